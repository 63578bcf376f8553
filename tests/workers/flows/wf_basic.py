"""Test workflow module imported by the workers as a plain module source."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

# Count imports through a side effect the test can read back.
_counter = os.environ.get("WF_IMPORT_COUNTER")
if _counter:
    with open(_counter, "a") as f:
        f.write(f"{os.getpid()}\n")

log = logging.getLogger("wf_basic")


def add_one(ctx):
    ctx.set("n", ctx.get("n", 0) + 1)


def returns_dict(ctx):
    return {"doubled": ctx.get("n", 0) * 2}


def returns_context(ctx):
    ctx.set("via", "context")
    return ctx


async def async_task(ctx):
    await asyncio.sleep(0.01)
    ctx.set("async", True)
    return ctx


def with_handle(ctx, handle):
    ctx.set("seen", [handle.execution_id, handle.task_id, handle.attempt, handle.workflow])


def noisy(ctx):
    print("hello from print")
    print("to stderr", file=sys.stderr)
    log.warning("a warning record")
    log.info("an info record")
    os.write(1, b"raw fd write\n")
    subprocess.run(["echo", "from a subprocess"], check=True)
    return {"noisy": True}


def raises(ctx):
    raise ValueError("boom")


def wrong_type(ctx):
    return 42


def not_json(ctx):
    return {"when": datetime.datetime(2026, 1, 1)}


def exits(ctx):
    print("about to exit")
    sys.stdout.flush()
    os._exit(7)


def aborts(ctx):
    os.abort()


def hangs(ctx):
    print("going to sleep")
    time.sleep(3600)


def sleeps(ctx):
    time.sleep(float(ctx.get("seconds", 0.2)))
    return {"slept": ctx.get("seconds", 0.2), "pid": os.getpid()}


def pid(ctx):
    return {"pid": os.getpid()}


def spawns_grandchild(ctx):
    proc = subprocess.Popen(["sleep", "3600"])
    Path(ctx.get("pidfile")).write_text(str(proc.pid))
    time.sleep(3600)


def exit_call(ctx):
    sys.exit(3)


def poll_fire_bool():
    return True


def poll_skip_bool():
    return False


def poll_bad():
    return "yes"


class Nested:
    @staticmethod
    def method(ctx):
        return {"nested": True}


def poll_hangs():
    time.sleep(3600)


def segfaults(ctx):
    import ctypes

    print("before the crash")
    ctypes.string_at(0)
