"""A small service on run_service for tests and benchmarks (run as a script).

    python fixture_service.py HOME [--children N] [--stubborn] [--slow-drain S]
        [--child-code CODE] [--grace S] [--log-max-bytes N]

Each child runs CODE (default: sleep) under a SupervisedChild whose stdout is
captured into the service log. The service's pid/log names use "compiler" so
that the regular stop verbs work against it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import trio

from cloacinactl.config.home import Home
from cloacinactl.config.logfilter import LogFilter
from cloacinactl.supervisor import (
    BackoffPolicy,
    ChildSpec,
    ServiceConfig,
    SupervisedChild,
    run_service,
)

STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
g = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
print("grandchild", g.pid, flush=True)
time.sleep(600)
"""
SLEEPER = "import time; print('child up', flush=True); time.sleep(600)"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("home")
    parser.add_argument("--children", type=int, default=1)
    parser.add_argument("--stubborn", action="store_true")
    parser.add_argument("--slow-drain", type=float, default=0.0)
    parser.add_argument("--child-code", default=None)
    parser.add_argument("--grace", type=float, default=0.5)
    parser.add_argument("--log-max-bytes", type=int, default=None)
    parser.add_argument("--fast-crash-s", type=float, default=1.0)
    parser.add_argument("--max-fast-crashes", type=int, default=1000)
    args = parser.parse_args()
    code = args.child_code or (STUBBORN if args.stubborn else SLEEPER)
    config = ServiceConfig(
        service="compiler",
        home=Home.resolve(args.home),
        log_filter=LogFilter(),
        shutdown_timeout_s=max(args.slow_drain, 1.0) * 2,
        log_max_bytes=args.log_max_bytes,
    )
    policy = BackoffPolicy(
        initial_s=0.1,
        max_s=2.0,
        fast_crash_s=args.fast_crash_s,
        max_fast_crashes=args.max_fast_crashes,
    )

    async def serve(cfg: ServiceConfig, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for n in range(1, args.children + 1):
                spec = ChildSpec(
                    name=f"worker {n}",
                    argv=[sys.executable, "-c", code],
                    grace_s=args.grace,
                    backoff=policy,
                    log_sink=cfg.rt.log_sink,
                    capture_output=True,
                )
                await nursery.start(SupervisedChild(spec).run)
            task_status.started({"children": args.children})

    async def drain() -> None:
        await trio.sleep(args.slow_drain)

    return run_service(config, serve, drain=drain)


if __name__ == "__main__":
    sys.exit(main())
