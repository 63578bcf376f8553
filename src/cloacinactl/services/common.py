"""What the three service programs share: common flags and argument checks."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from cloacinactl import __version__
from cloacinactl.config.home import Home
from cloacinactl.config.logfilter import LogFilter, resolve_filter
from cloacinactl.errors import UsageError, UserError

if TYPE_CHECKING:
    from cloacinactl.supervisor import Runtime

WORKER_MEMORY_ENV = "CLOACINA_WORKER_MEMORY_LIMIT_MB"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


class ServiceParser(argparse.ArgumentParser):
    """Usage errors exit 1 through our error type, like cloacinactl's."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, usage=self.format_usage())


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def bind_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) → (host, port); port 0 picks a free one."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def env_bool(name: str, text: str | None) -> bool:
    if text is None:
        return False
    low = text.strip().lower()
    if low in TRUE_WORDS:
        return True
    if low in FALSE_WORDS:
        return False
    raise UserError(f"{name}={text!r} is not a boolean", hint="use true or false")


def new_parser(prog: str, description: str) -> ServiceParser:
    parser = ServiceParser(prog=prog, description=description)
    parser.add_argument(
        "--home", help="Cloacina home directory (default $CLOACINA_HOME, else ~/.cloacina)."
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="Debug-level logging (wins over RUST_LOG)."
    )
    parser.add_argument(
        "--detach", action="store_true", help="Run in the background (logs go to the file only)."
    )
    parser.add_argument(
        "--shutdown-timeout-s",
        type=non_negative_float,
        default=None,
        help="Graceful drain deadline on SIGINT/SIGTERM (default 30).",
    )
    parser.add_argument(
        "--log-retention-days",
        type=positive_int,
        default=7,
        help="Keep rotated log files this many days (default 7).",
    )
    parser.add_argument(
        "--log-max-bytes",
        type=positive_int,
        default=None,
        help="Also rotate the log file when it would grow past this size.",
    )
    return parser


def base_fields(
    args: argparse.Namespace, service: str, *, configured_level: str | None = None
) -> dict[str, Any]:
    """The ``ServiceConfig`` fields every service takes from its flags and environment."""
    log_filter: LogFilter = resolve_filter(
        verbose=bool(args.verbose), env=os.environ.get("RUST_LOG"), configured=configured_level
    )
    return {
        "service": service,
        "home": Home.resolve(args.home),
        "log_filter": log_filter,
        "log_retention_days": args.log_retention_days,
        "log_max_bytes": args.log_max_bytes,
        "detach": bool(args.detach),
    }


def add_bind_flag(parser: argparse.ArgumentParser, port: int) -> None:
    """``--bind HOST:PORT`` of the HTTP services (server, compiler)."""
    parser.add_argument(
        "--bind",
        type=bind_address,
        default=("127.0.0.1", port),
        metavar="ADDR",
        help=f"Listen address (default 127.0.0.1:{port}; port 0 picks a free port).",
    )


def http_fields(args: argparse.Namespace, service: str) -> dict[str, Any]:
    """:func:`base_fields` plus what the HTTP services take alike: drain deadline, bind, -v."""
    shutdown = args.shutdown_timeout_s
    return {
        **base_fields(args, service),
        "shutdown_timeout_s": 30.0 if shutdown is None else shutdown,
        "host": args.bind[0],
        "port": args.bind[1],
        "verbose": bool(args.verbose),
    }


def add_worker_memory_flag(parser: argparse.ArgumentParser) -> None:
    """``--worker-memory-limit-mb N`` of the services that run task code (daemon, server)."""
    parser.add_argument(
        "--worker-memory-limit-mb",
        type=positive_int,
        default=None,
        metavar="N",
        help="Kill a worker whose memory (RSS) passes N MiB during a task, failing that "
        f"attempt, and recycle one over it between tasks (default: ${WORKER_MEMORY_ENV}, "
        "else no limit).",
    )


def worker_memory_limit_mb(flag: int | None, environ: Mapping[str, str]) -> int | None:
    """The flag's value, else ``CLOACINA_WORKER_MEMORY_LIMIT_MB``, else None (no limit)."""
    if flag is not None:
        return flag
    text = environ.get(WORKER_MEMORY_ENV, "").strip()
    if not text:
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError as exc:
        raise UserError(
            f"{WORKER_MEMORY_ENV}={text!r}: {exc}", hint="a whole number of MiB, at least 1"
        ) from None


def runtime_status(rt: Runtime) -> dict[str, Any]:
    """The identity every health body starts with: pid, uptime, start time, version."""
    return {
        "pid": rt.pid,
        "uptime_seconds": round(rt.uptime_s, 3),
        "started_at": rt.started_at,
        "version": __version__,
    }
