"""``cloacina-compiler``: parse flags, build the config, run under the supervisor."""

from __future__ import annotations

import os
from collections.abc import Sequence

from cloacinactl.config import pick_database_url
from cloacinactl.procexit import exit_now
from cloacinactl.services.common import (
    add_bind_flag,
    http_fields,
    new_parser,
    positive_int,
    run_entry,
)
from cloacinactl.services.compiler.service import CompilerService, CompilerServiceConfig
from cloacinactl.store.urls import parse_database_url
from cloacinactl.supervisor import run_service


def parse(argv: Sequence[str]) -> CompilerServiceConfig:
    parser = new_parser("cloacina-compiler", "Cloacina package build service (foreground).")
    add_bind_flag(parser, 9000)
    parser.add_argument(
        "--database-url", metavar="URL", help="Database URL (default: $DATABASE_URL)."
    )
    for flag, default, text in (
        ("--poll-interval-ms", 1000, "How often to poll for pending builds, ms"),
        ("--heartbeat-interval-s", 10, "Build heartbeat cadence, s"),
        ("--stale-threshold-s", 60, "Age after which an in-flight build is reclaimable, s"),
        ("--sweep-interval-s", 30, "How often to sweep for stale claims, s"),
    ):
        parser.add_argument(
            flag,
            type=positive_int,
            default=default,
            metavar="N",
            help=f"{text} (default {default}).",
        )
    args = parser.parse_args(argv)
    raw_url = pick_database_url(args.database_url, os.environ)
    return CompilerServiceConfig(
        **http_fields(args, "compiler"),
        database_url=parse_database_url(raw_url) if raw_url else None,
        poll_interval_ms=args.poll_interval_ms,
        heartbeat_interval_s=args.heartbeat_interval_s,
        stale_threshold_s=args.stale_threshold_s,
        sweep_interval_s=args.sweep_interval_s,
    )


def _run(argv: Sequence[str]) -> int:
    config = parse(argv)
    service = CompilerService(config)
    return run_service(config, service.serve, reload=service.reload, status=service.status_line)


def main() -> None:
    exit_now(run_entry(_run))
