"""``cloacina-server``: parse flags, build the config, run under the supervisor."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cloacinactl.config import load_config, pick_database_url
from cloacinactl.config.home import Home
from cloacinactl.config.logfilter import resolve_filter
from cloacinactl.errors import UserError, run_main
from cloacinactl.procexit import exit_now
from cloacinactl.services.common import (
    add_bind_flag,
    env_bool,
    http_fields,
    new_parser,
    non_negative_float,
    positive_int,
)
from cloacinactl.services.server.service import ServerService, ServerServiceConfig
from cloacinactl.store.secrets import kek_from_env
from cloacinactl.store.urls import parse_database_url
from cloacinactl.supervisor import run_service


def parse(argv: Sequence[str]) -> ServerServiceConfig:
    parser = new_parser("cloacina-server", "Cloacina HTTP API server (foreground).")
    add_bind_flag(parser, 8080)
    parser.add_argument(
        "--database-url", metavar="URL", help="Database URL (default: $DATABASE_URL; required)."
    )
    parser.add_argument(
        "--bootstrap-key",
        metavar="KEY",
        help="Admin key for first startup (default: $CLOACINA_BOOTSTRAP_KEY).",
    )
    parser.add_argument(
        "--require-signatures",
        action="store_true",
        default=None,
        help="Enforce package signatures at upload (default: $CLOACINA_REQUIRE_SIGNATURES).",
    )
    parser.add_argument(
        "--reconcile-interval-s",
        type=positive_int,
        default=30,
        metavar="N",
        help="Reconciler poll interval in seconds (default 30).",
    )
    parser.add_argument(
        "--db-check-timeout-s",
        type=non_negative_float,
        default=2.0,
        metavar="S",
        help="Timeout of the /ready database check (default 2).",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=positive_int,
        default=100,
        metavar="N",
        help="Refuse request bodies (package uploads) over N MiB with 413 (default 100).",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="Worker processes per tenant that run task code (default: max(2, CPUs)).",
    )
    parser.add_argument(
        "--trusted-key",
        action="append",
        default=[],
        metavar="PATH",
        help="A PEM Ed25519 public key trusted for package signatures (repeatable; "
        "config.toml server.trusted_keys adds more; SIGHUP re-reads them).",
    )
    args = parser.parse_args(argv)
    # --database-url, else DATABASE_URL, else database_url in config.toml (the
    # reference's "admin, server start"); the file is read only when needed.
    given_url = pick_database_url(args.database_url, os.environ)
    settings = load_config(Home.resolve(args.home))
    raw_url = given_url or settings.database_url
    if not raw_url:
        raise UserError(
            "cloacina-server needs a database: no --database-url, DATABASE_URL is not set"
            " and config.toml has no database_url",
            hint="e.g. --database-url sqlite:///$HOME/.cloacina/server.db or postgresql://…",
        )
    require = args.require_signatures
    if require is None:
        require = env_bool(
            "CLOACINA_REQUIRE_SIGNATURES", os.environ.get("CLOACINA_REQUIRE_SIGNATURES")
        )
    fields = http_fields(args, "server")
    if settings.server.log_level:  # config.toml's server.log_level, under -v / RUST_LOG
        fields["log_filter"] = resolve_filter(
            verbose=bool(args.verbose),
            env=os.environ.get("RUST_LOG"),
            configured=settings.server.log_level,
        )
    return ServerServiceConfig(
        **fields,
        database_url=parse_database_url(raw_url),
        bootstrap_key=args.bootstrap_key or os.environ.get("CLOACINA_BOOTSTRAP_KEY") or None,
        require_signatures=bool(require),
        reconcile_interval_s=args.reconcile_interval_s,
        db_check_timeout_s=args.db_check_timeout_s,
        max_body_bytes=args.max_upload_mb * 1024 * 1024,
        trusted_key_paths=tuple(Path(p).expanduser().absolute() for p in args.trusted_key),
        database_url_from_config=not given_url,
        secret_kek=kek_from_env(os.environ),
        workers=args.workers,
        engine_settings=settings.daemon,  # a malformed KEK stops the start (exit 1)
    )


def _run(argv: Sequence[str]) -> int:
    config = parse(argv)
    service = ServerService(config)
    return run_service(
        config,
        service.serve,
        reload=service.reload,
        status=service.status_line,
        drain=service.drain,
    )


def main() -> None:
    exit_now(run_main(_run))
