"""``cloacina-compiler``: parse flags, build the config, run under the supervisor."""

from __future__ import annotations

import os
from collections.abc import Sequence

from cloacinactl.config import load_config, pick_database_url
from cloacinactl.config.home import Home
from cloacinactl.errors import UserError, run_main
from cloacinactl.procexit import exit_now
from cloacinactl.services.common import (
    add_bind_flag,
    http_fields,
    new_parser,
    non_negative_float,
    positive_int,
)
from cloacinactl.services.compiler.service import (
    DEFAULTS,
    CompilerService,
    CompilerServiceConfig,
    tunables_from,
    with_tunables,
)
from cloacinactl.store.urls import parse_database_url
from cloacinactl.supervisor import run_service

TUNING_HELP = {
    "poll_interval_ms": "How often to poll the database for pending builds, ms",
    "heartbeat_interval_s": "How often a build in flight (and the compiler) heartbeats, s",
    "stale_threshold_s": "Heartbeat age after which another compiler may take a build over, s",
    "sweep_interval_s": "How often to return stale builds to the queue, s",
}


def parse(argv: Sequence[str]) -> CompilerServiceConfig:
    parser = new_parser("cloacina-compiler", "Cloacina package build service (foreground).")
    add_bind_flag(parser, 9000)
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="Database URL (default: $DATABASE_URL, else database_url in config.toml).",
    )
    for name, text in TUNING_HELP.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=positive_int,
            default=None,
            metavar="N",
            help=f"{text} (default: [compiler] {name} in config.toml, else {DEFAULTS[name]}).",
        )
    parser.add_argument(
        "--import-timeout-s",
        type=non_negative_float,
        default=60.0,
        metavar="S",
        help="Wall-clock limit of importing a package's entry module (default 60).",
    )
    parser.add_argument(
        "--import-memory-mb",
        type=positive_int,
        default=1024,
        metavar="N",
        help="Address-space limit of the import sandbox, MiB (default 1024).",
    )
    parser.add_argument(
        "--pip-timeout-s",
        type=non_negative_float,
        default=600.0,
        metavar="S",
        help="Limit of installing requirements.txt with pip (default 600).",
    )
    args = parser.parse_args(argv)
    home = Home.resolve(args.home)
    given_url = pick_database_url(args.database_url, os.environ)
    settings = load_config(home)
    raw_url = given_url or settings.database_url
    if not raw_url:
        raise UserError(
            "cloacina-compiler needs a database: no --database-url, DATABASE_URL is not set"
            " and config.toml has no database_url",
            hint="use the server's database, e.g. --database-url postgresql://…",
        )
    flags = {name: getattr(args, name) for name in DEFAULTS if getattr(args, name) is not None}
    fields = http_fields(args, "compiler")
    if settings.compiler.log_level and not args.verbose and not os.environ.get("RUST_LOG"):
        from cloacinactl.config.logfilter import resolve_filter

        fields["log_filter"] = resolve_filter(
            verbose=False, env=None, configured=settings.compiler.log_level
        )
    config = CompilerServiceConfig(
        **fields,
        database_url=parse_database_url(raw_url),
        flags=flags,
        import_timeout_s=args.import_timeout_s,
        import_memory_mb=args.import_memory_mb,
        pip_timeout_s=args.pip_timeout_s,
    )
    return with_tunables(config, tunables_from(flags, settings.compiler))


def _run(argv: Sequence[str]) -> int:
    config = parse(argv)
    service = CompilerService(config)
    return run_service(
        config,
        service.serve,
        reload=service.reload,
        status=service.status_line,
        drain=service.drain,
    )


def main() -> None:
    exit_now(run_main(_run))
