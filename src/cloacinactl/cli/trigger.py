"""``cloacinactl trigger``: the tenant's cron and custom-poll schedules; pause, resume, fire."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cloacinactl.cli.remote import act, api_path, items_of, read_json_object, show_list, show_object

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun

COLUMNS = (
    "name",
    "schedule_type",
    "workflow_name",
    "schedule",
    "paused",
    "next_run_at",
    "last_run_at",
)


def schedule_name(row: dict[str, Any]) -> str:
    """What a schedule is addressed by: its trigger name, else its workflow's name."""
    return str(row.get("trigger_name") or row.get("workflow_name") or row.get("id"))


def _row(row: dict[str, Any]) -> dict[str, Any]:
    if row.get("cron_expression"):
        schedule = str(row["cron_expression"])
    elif row.get("poll_interval_ms") is not None:
        schedule = f"every {int(row['poll_interval_ms']) / 1000:g}s"
    else:
        schedule = None
    return {**row, "name": schedule_name(row), "schedule": schedule}


def list_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """List the tenant's schedules: cron and custom-poll triggers, with next and last run.

    -o id prints the names trigger inspect/pause/resume/fire take.
    """
    with ctx.client() as client:
        body = client.get(client.tenant_path("triggers"))
    rows = [_row(row) for row in items_of(body)]
    show_list(ctx, body, COLUMNS, id_field="name", rows=rows)


def inspect(ctx: Ctx, args: argparse.Namespace) -> None:
    """Show one schedule (by trigger or workflow name) and its recent executions."""
    with ctx.client() as client:
        detail = client.get(client.tenant_path("triggers", args.name))
    if ctx.output in ("json", "yaml"):
        ctx.render(detail)
        return
    flat = {
        **_row(detail.get("schedule") or {}),
        "recent_executions": detail.get("recent_executions"),
    }
    show_object(
        ctx, flat, id_field="name", sections={"recent_executions": ("recent executions", None)}
    )


def _pause(ctx: Ctx, name: str, verb: str) -> None:
    act(ctx, "POST", api_path(ctx, "triggers", name, verb), f"trigger '{name}' {verb}d")


def pause(ctx: Ctx, args: argparse.Namespace) -> None:
    """Pause a schedule: it does not fire until resumed."""
    _pause(ctx, args.name, "pause")


def resume(ctx: Ctx, args: argparse.Namespace) -> None:
    """Resume a paused schedule."""
    _pause(ctx, args.name, "resume")


def fire(ctx: Ctx, args: argparse.Namespace) -> None:
    """Fire a trigger now: each workflow it starts runs with --context merged in.

    --context takes a JSON file or - (stdin); it is checked before sending.
    Prints the executions started (-o id: their ids, one per line).
    """
    event = read_json_object(args.context)
    with ctx.client() as client:
        answer = client.post(
            client.tenant_path("triggers", args.name, "fire"),
            json={"event": event} if args.context is not None else {},
        )
    runs = [r for r in answer.get("executions") or [] if isinstance(r, dict)]
    show_list(ctx, answer, ("workflow_name", "execution_id"), id_field="execution_id", rows=runs)


def register(noun: Noun) -> None:
    noun.verb("list", list_cmd)
    for verb, func in (("inspect", inspect), ("pause", pause), ("resume", resume)):
        noun.verb(verb, func).add_argument("name", metavar="NAME", help="Trigger name.")
    p = noun.verb("fire", fire)
    p.add_argument("name", metavar="NAME", help="Trigger name.")
    p.add_argument("--context", metavar="FILE|-", help="Event context: a JSON file or - (stdin).")
