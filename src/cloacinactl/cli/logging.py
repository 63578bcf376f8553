"""stderr logging for the CLI process, driven by ``-v`` and RUST_LOG.

The CLI uses the standard ``logging`` module (loguru costs 80 ms to import and
belongs to the services); the filter is the shared pure parser in
``cloacinactl.config.logfilter`` so RUST_LOG means the same thing everywhere.
Verbs that run the engine in-process get loguru configured with the same
filter (``setup_loguru``, called by ``Ctx.setup_logging``'s import hook).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from cloacinactl.config.logfilter import TRACE, WARNING, LogFilter, resolve_filter

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOGURU_FORMAT = "{time:HH:mm:ss} {level: <7} {name}: {message}"


class FilterByTarget(logging.Filter):
    """Apply a :class:`LogFilter` (per-logger levels and optional regex) to records."""

    def __init__(self, log_filter: LogFilter) -> None:
        super().__init__()
        self.log_filter = log_filter

    def filter(self, record: logging.LogRecord) -> bool:
        return self.log_filter.enabled(record.name, record.levelno, record.getMessage())


def setup_cli_logging(*, verbose: bool, rust_log: str | None) -> LogFilter:
    """Send log records to stderr through the effective filter; returns it."""
    log_filter = resolve_filter(verbose=verbose, env=rust_log, default=WARNING)
    logging.addLevelName(TRACE, "TRACE")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))
    handler.addFilter(FilterByTarget(log_filter))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # Loggers must let records through to the handler, which does the filtering.
    root.setLevel(max(log_filter.min_level, 1))
    for bad in log_filter.invalid:
        logging.getLogger("cloacinactl.cli").warning("RUST_LOG: ignored directive %r", bad)
    logging.getLogger("cloacinactl.cli").debug(
        "logging default=%s targets=%s", log_filter.default, dict(log_filter.targets)
    )
    return log_filter


def setup_loguru(*, verbose: bool, rust_log: str | None) -> LogFilter:
    """Replace loguru's default DEBUG handler with one on stderr behind the CLI filter.

    Warnings and up by default; ``-v`` debug; RUST_LOG per target (``cloacina=debug``).
    """
    from loguru import logger

    log_filter = resolve_filter(verbose=verbose, env=rust_log, default=WARNING)

    def passes(record: Any) -> bool:
        return log_filter.enabled(record["name"] or "", record["level"].no, record["message"])

    logger.remove()
    logger.add(
        sys.stderr,
        level=max(log_filter.min_level, 1),
        format=LOGURU_FORMAT,
        filter=passes,
        colorize=False,
        # No variable values in tracebacks: they could hold secrets.
        diagnose=False,
        backtrace=False,
    )
    return log_filter
