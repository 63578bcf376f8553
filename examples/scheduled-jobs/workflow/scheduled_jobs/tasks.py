"""Housekeeping: started by a cron schedule and by a poll trigger on an inbox folder.

The inbox is ``CLOACINA_VAR_INBOX`` (``cloaca.var_or``), by default
``<system temp>/cloacina-inbox``. Drop a file there and the poll trigger
fires the workflow with the file name in the context; ``process`` moves the
file to ``<inbox>/done/``. The cron trigger (every 10 seconds) starts the
same workflow with ``scheduled_time`` in the context.
"""

import datetime
import tempfile
from pathlib import Path

import cloaca


def inbox():
    default = str(Path(tempfile.gettempdir()) / "cloacina-inbox")
    return Path(cloaca.var_or("INBOX", default))


@cloaca.task(id="inspect", dependencies=[])
def inspect(context):
    """Note why we run: a schedule slot or an inbox file."""
    reason = "file" if context.get("filename") else "schedule"
    context.set("reason", reason)
    context.set("checked_at", datetime.datetime.now(datetime.timezone.utc).isoformat())
    return context


@cloaca.task(id="process", dependencies=["inspect"])
def process(context):
    """Move the inbox file (if any) to done/ and count what is left."""
    folder = inbox()
    name = context.get("filename")
    if name:
        source = folder / name
        if source.exists():
            (folder / "done").mkdir(parents=True, exist_ok=True)
            source.replace(folder / "done" / name)
            context.set("processed", name)
    waiting = sorted(p.name for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    context.set("waiting", waiting)
    return context


@cloaca.trigger(name="heartbeat", on="housekeeping", cron="*/10 * * * * *")
def heartbeat():
    """Every 10 seconds (6-field cron, seconds first); the body is unused."""


@cloaca.trigger(name="inbox_watch", on="housekeeping", poll_interval="5s")
def inbox_watch():
    """Fire once per file found in the inbox (oldest first); skip when empty."""
    folder = inbox()
    if not folder.is_dir():
        return cloaca.TriggerResult.skip()
    files = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: p.stat().st_mtime)
    if not files:
        return cloaca.TriggerResult.skip()
    return cloaca.TriggerResult.fire(cloaca.Context({"filename": files[0].name}))
