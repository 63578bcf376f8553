"""``cloacina-daemon``: parse flags, build the config, run under the supervisor."""

from __future__ import annotations

import os
from collections.abc import Sequence

from cloacinactl.config import load_config
from cloacinactl.config.home import Home
from cloacinactl.config.secretsfile import read_secrets_file, secrets_file_from
from cloacinactl.errors import run_main
from cloacinactl.procexit import exit_now
from cloacinactl.services.common import (
    add_worker_memory_flag,
    base_fields,
    new_parser,
    positive_int,
    worker_memory_limit_mb,
)
from cloacinactl.services.daemon.engine import SchedulerWorkload
from cloacinactl.services.daemon.health import check_socket_path
from cloacinactl.services.daemon.service import DaemonService, DaemonServiceConfig
from cloacinactl.services.reconcile import normalise_dir
from cloacinactl.supervisor import run_service


def parse(argv: Sequence[str]) -> DaemonServiceConfig:
    parser = new_parser("cloacina-daemon", "Cloacina local scheduler daemon (foreground).")
    parser.add_argument(
        "--watch-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="Additional package directory to watch (repeatable).",
    )
    parser.add_argument(
        "--poll-interval",
        type=positive_int,
        default=None,
        metavar="MS",
        help="Reconciler fallback poll interval in ms (default from config, 500).",
    )
    parser.add_argument(
        "--secrets-file",
        default=None,
        metavar="FILE",
        help="Secrets for workflows' secret slots: {name: {field: value}} as JSON or .toml, "
        "mode 0600, re-read at each task (default $CLOACINA_SECRETS_FILE).",
    )
    add_worker_memory_flag(parser)
    args = parser.parse_args(argv)
    secrets_file = secrets_file_from(args.secrets_file, os.environ)
    if secrets_file is not None:
        read_secrets_file(secrets_file)  # a bad or open file stops the start (exit 1)
    memory_limit_mb = worker_memory_limit_mb(args.worker_memory_limit_mb, os.environ)
    home = Home.resolve(args.home)
    check_socket_path(home.daemon_socket)
    settings = load_config(home)
    fields = base_fields(args, "daemon", configured_level=settings.daemon.log_level)
    shutdown = args.shutdown_timeout_s
    return DaemonServiceConfig(
        **fields,
        shutdown_timeout_s=float(
            settings.daemon.shutdown_timeout_s if shutdown is None else shutdown
        ),
        # relative --watch-dir folders are taken from where the daemon was started
        cli_watch_dirs=tuple(normalise_dir(d) for d in args.watch_dir),
        poll_interval_ms=args.poll_interval or settings.daemon.poll_interval_ms,
        cli_poll_interval_ms=args.poll_interval,
        cli_shutdown_timeout_s=shutdown,
        verbose=bool(args.verbose),
        settings=settings,
        worker_memory_limit_mb=memory_limit_mb,
        secrets_file=secrets_file,
    )


def _run(argv: Sequence[str]) -> int:
    config = parse(argv)
    service = DaemonService(config, workloads=(SchedulerWorkload(),))
    return run_service(
        config,
        service.serve,
        reload=service.reload,
        status=service.status_line,
        drain=service.drain,
        drain_timeout=service.drain_timeout_s,
    )


def main() -> None:
    exit_now(run_main(_run))
