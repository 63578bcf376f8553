"""``cloacinactl execution``: list executions, show one with its tasks, read or follow events."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cloacinactl.cli.remote import check_since, items_of, note, show_list, show_object

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun

COLUMNS = ("id", "workflow_name", "status", "started_at", "completed_at", "trigger_origin")
TASK_COLUMNS = ("task_name", "status", "attempts", "started_at", "completed_at", "last_error")
EVENT_COLUMNS = ("sequence_num", "created_at", "event_type", "task_name", "event_data")
STATUSES = ("Pending", "Running", "Completed", "Failed", "Cancelled", "Paused")


def limit_type(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 1000, not {text!r}")
    return value


def list_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """List the tenant's executions, newest first (default 50).

    Filter by --workflow NAME and --status (Pending, Running, Completed,
    Failed, Cancelled, Paused). -o id prints one execution id per line:
    cloacinactl execution list -o id | xargs -n1 cloacinactl execution status
    """
    params = {"workflow": args.workflow, "status": args.status, "limit": args.limit}
    with ctx.client() as client:
        body = client.get(client.tenant_path("executions"), params=params)
    show_list(ctx, body, COLUMNS)


def _task_rows(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for task in tasks:
        row = dict(task)
        attempt, most = task.get("attempt"), task.get("max_attempts")
        row["attempts"] = f"{attempt}/{most}" if most else attempt
        row["last_error"] = task.get("last_error") or task.get("error_details")
        rows.append(row)
    return rows


def status(ctx: Ctx, args: argparse.Namespace) -> None:
    """Show an execution: its status (Pending, Running, Completed, Failed, Cancelled,
    Paused) and a per-task table (status, attempts, times, last error).

    -o json/yaml: the execution object with its tasks under "tasks".
    """
    with ctx.client() as client:
        detail = client.get(client.tenant_path("executions", args.id))
        tasks = client.get(client.tenant_path("executions", args.id, "tasks"))
    rows = [t for t in (tasks or {}).get("tasks") or [] if isinstance(t, dict)]
    document = dict(detail)
    document["tasks"] = rows if ctx.output in ("json", "yaml") else _task_rows(rows)
    show_object(ctx, document, id_field="execution_id", sections={"tasks": ("tasks", TASK_COLUMNS)})


def _initial_events(ctx: Ctx, args: argparse.Namespace, since: str | None) -> dict[str, Any]:
    with ctx.client() as client:
        body = client.get(
            client.tenant_path("executions", args.id, "events"), params={"since": since}
        )
    return body if isinstance(body, dict) else {"events": []}


def events(ctx: Ctx, args: argparse.Namespace) -> int:
    """Show an execution's events in order; --since 10m only the recent ones.

    --since takes d/h/m/s (90s, 10m, 1h30m, 2d) or an RFC 3339 time. With
    --follow, new events are printed as they happen until the execution ends:
    exit 0 when it completed, 5 when it failed or was cancelled; Ctrl-C stops
    following (exit 0).
    -o json with --follow prints one JSON object per line.
    """
    since = check_since(args.since) if args.since else None
    if not args.follow:
        body = _initial_events(ctx, args, since)
        show_list(ctx, body, EVENT_COLUMNS, rows=items_of(body.get("events")))
        return 0
    return follow_execution(ctx, args.id, since=since)


def follow_execution(
    ctx: Ctx,
    execution_id: str,
    *,
    since: str | None = None,
    quiet: bool = False,
    interrupted: int = 0,
) -> int:
    """Print an execution's events as they happen (none when ``quiet``); the exit
    code of its outcome (``interrupted`` after Ctrl-C)."""
    from cloacinactl.cli.follow import Follower, outcome_code, printer, sequence

    show = printer(ctx.output, no_color=ctx.no_color) if not quiet else (lambda event: None)
    with ctx.client() as client:
        after = None
        if since is not None:
            path = client.tenant_path("executions", execution_id, "events")
            recent = client.get(path, params={"since": since}).get("events") or []
            everything = recent or client.get(path).get("events") or []
            for event in recent:
                show(event)
            seqs = [s for s in (sequence(e) for e in everything) if s is not None]
            after = max(seqs, default=None)
        follower = Follower(client, execution_id, show, after=after)
        try:
            final = follower.run()
        except KeyboardInterrupt:
            note(f"stopped following; execution {execution_id} goes on on the server")
            return interrupted
    if ctx.output == "table":
        note(f"execution {execution_id} {final}")
    return outcome_code(final)


def register(noun: Noun) -> None:
    p = noun.verb("list", list_cmd)
    p.add_argument("--workflow", metavar="NAME", help="Only executions of this workflow.")
    p.add_argument("--status", choices=STATUSES, help="Only executions in this state.")
    p.add_argument(
        "--limit", type=limit_type, default=50, metavar="N", help="At most N (1-1000, default 50)."
    )
    p = noun.verb("status", status)
    p.add_argument("id", metavar="ID", help="The execution id.")
    p = noun.verb("events", events)
    p.add_argument("id", metavar="ID", help="The execution id.")
    p.add_argument(
        "--since", metavar="DURATION", help="Only events newer than this (10m, or a time)."
    )
    p.add_argument(
        "--follow", "-f", action="store_true", help="Keep printing new events until it ends."
    )
