"""The supervisor under benchmark: run_service with N supervised children.

    python ours_service.py HOME --argv JSON [--children N] [--grace S]
        [--fast-crash-s S] [--no-restart] [--capture] [--log-max-bytes N]
        [--fast-days S]

It is named "daemon" and answers on <home>/daemon.sock like the real daemon,
so ``cloacinactl daemon status|stop`` work against it. ``--fast-days S`` makes
the log file's calendar advance one day every S seconds (to exercise daily
rotation inside a short benchmark).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from typing import Any

import trio

from cloacinactl.config.home import Home
from cloacinactl.config.logfilter import LogFilter
from cloacinactl.services.daemon.health import serve_health_socket
from cloacinactl.supervisor import (
    BackoffPolicy,
    ChildSpec,
    ServiceConfig,
    SupervisedChild,
    run_service,
)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("home")
    p.add_argument("--argv", required=True)
    p.add_argument("--children", type=int, default=1)
    p.add_argument("--grace", type=float, default=1.0)
    p.add_argument("--fast-crash-s", type=float, default=1.0)
    p.add_argument("--initial-s", type=float, default=0.1)
    p.add_argument("--max-s", type=float, default=2.0)
    p.add_argument("--no-restart", action="store_true")
    p.add_argument("--capture", action="store_true")
    p.add_argument("--log-max-bytes", type=int, default=None)
    p.add_argument("--fast-days", type=float, default=0.0)
    a = p.parse_args()
    argv = json.loads(a.argv)
    config = ServiceConfig(
        service="daemon",
        home=Home.resolve(a.home),
        log_filter=LogFilter(),
        shutdown_timeout_s=5.0,
        log_max_bytes=a.log_max_bytes,
    )
    policy = BackoffPolicy(
        initial_s=a.initial_s,
        max_s=a.max_s,
        fast_crash_s=a.fast_crash_s,
        max_fast_crashes=1_000_000,
    )
    children: list[SupervisedChild] = []

    async def health() -> dict[str, Any]:
        return {
            "status": "healthy",
            "pid": config_rt.pid,
            "uptime_seconds": config_rt.uptime_s,
            "workers": [
                {
                    "name": c.spec.name,
                    "state": c.state.value,
                    "generation": c.generation,
                    "pid": c.pid,
                    "restarts": c.restarts,
                }
                for c in children
            ],
        }

    config_rt: Any = None

    async def serve(cfg: ServiceConfig, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal config_rt
        config_rt = cfg.rt
        if a.fast_days > 0:
            start, base = time.monotonic(), dt.date.today()
            log_file = cfg.rt.logging.file
            log_file._today = lambda: (
                base
                + dt.timedelta(  # type: ignore[method-assign]
                    days=int((time.monotonic() - start) / a.fast_days)
                )
            )
        async with trio.open_nursery() as nursery:
            for n in range(1, a.children + 1):
                spec = ChildSpec(
                    name=f"worker {n}",
                    argv=argv,
                    grace_s=a.grace,
                    backoff=policy,
                    autorestart=not a.no_restart,
                    log_sink=cfg.rt.log_sink if a.capture else None,
                    capture_output=a.capture,
                )
                child = SupervisedChild(spec)
                children.append(child)
                nursery.start_soon(child.run)
            await nursery.start(serve_health_socket, cfg.home.daemon_socket, health)
            task_status.started({"children": a.children})

    return run_service(config, serve)


if __name__ == "__main__":
    sys.exit(main())
