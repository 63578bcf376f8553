"""``cloacinactl graph``: computation graphs on a server (or the local daemon's feed) —
health, accumulators, feeding."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cloacinactl.cli.remote import act, items_of, read_json_object, show_list, show_object

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun

GRAPH_COLUMNS = (
    "name",
    "state",
    "reactor",
    "reaction_mode",
    "input_strategy",
    "paused",
    "fires",
    "failures",
    "last_fired_at",
)
ACCUMULATOR_COLUMNS = (
    "name",
    "kind",
    "reactor",
    "state",
    "events_total",
    "operator_injects",
    "buffer",
    "last_event_at",
    "error",
)
FIRE_COLUMNS = ("fired_at", "ok", "manual", "duration_ms", "path", "error")


def _path(*parts: str) -> str:
    from cloacinactl.cli.http import ApiClient

    return ApiClient.path("health", *parts)


def _graph_row(row: dict[str, Any]) -> dict[str, Any]:
    found = row.get("health")
    health: dict[str, Any] = found if isinstance(found, dict) else {}
    return {**row, "state": health.get("state"), "reason": health.get("reason")}


def _acc_row(row: dict[str, Any]) -> dict[str, Any]:
    depth, capacity = row.get("buffer_depth"), row.get("buffer_capacity")
    buffer = None if depth is None else f"{depth}/{capacity}" if capacity is not None else depth
    return {**row, "buffer": buffer}


def list_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """List loaded computation graphs with health, fires and reactor pause state.

    -o id prints the names graph status takes.
    """
    with ctx.client() as client:
        body = client.get(_path("graphs"))
    rows = [_graph_row(r) for r in items_of(body)]
    show_list(ctx, body, GRAPH_COLUMNS, id_field="name", rows=rows)


def status(ctx: Ctx, args: argparse.Namespace) -> None:
    """One graph's health, accumulators, reactor pause state and topology."""
    with ctx.client() as client:
        body = client.get(_path("graphs", args.name))
    if ctx.output in ("json", "yaml", "id"):
        show_object(ctx, body, id_field="name")
        return
    topology = body.get("topology") or {}
    flat = {
        **{k: v for k, v in _graph_row(body).items() if k not in ("health", "topology")},
        "accumulators": ", ".join(body.get("accumulators") or []),
        "nodes": [
            {"id": n.get("id"), "inputs": ", ".join(n.get("inputs") or [])}
            for n in topology.get("nodes") or []
        ],
        "edges": topology.get("edges") or [],
    }
    show_object(
        ctx,
        flat,
        id_field="name",
        sections={
            "nodes": ("nodes", ("id", "inputs")),
            "edges": ("edges", ("from", "to", "label")),
        },
    )


def accumulators(ctx: Ctx, args: argparse.Namespace) -> None:
    """List every accumulator of every loaded graph: kind, reactor, events, buffer."""
    with ctx.client() as client:
        body = client.get(_path("accumulators"))
    rows = [_acc_row(r) for r in items_of(body)]
    show_list(ctx, body, ACCUMULATOR_COLUMNS, id_field="name", rows=rows)


def inject(ctx: Ctx, args: argparse.Namespace) -> None:
    """Push one event (a JSON object from a file or - for stdin) into an accumulator.

    The event is checked locally as JSON, then by the server against the
    accumulator's boundary schema (a mismatch names the field, exit 1).
    --daemon feeds the local daemon instead (through <home>/graphs.sock).
    """
    event = read_json_object(args.event, "--event")
    if args.daemon:
        answer = _to_daemon(ctx, {"op": "inject", "accumulator": args.name, "event": event})
        show_object(ctx, answer, id_field="accumulator")
        return
    with ctx.client() as client:
        answer = client.post(_path("accumulators", args.name, "inject"), json={"event": event})
    show_object(ctx, answer, id_field="accumulator")


def fire(ctx: Ctx, args: argparse.Namespace) -> None:
    """Fire a reactor now: with its current inputs, or --inputs (a JSON object of
    accumulator name → value, file or -) replacing them first."""
    body: dict[str, Any] = {"mode": "force_fire"}
    if args.inputs is not None:
        body = {"mode": "fire_with", "inputs": read_json_object(args.inputs, "--inputs")}
    if args.daemon:
        request = {"op": "fire", "reactor": args.name, "inputs": body.get("inputs")}
        show_object(ctx, _to_daemon(ctx, request), id_field="reactor")
        return
    with ctx.client() as client:
        answer = client.post(_path("reactors", args.name, "fire"), json=body)
    show_object(ctx, answer, id_field="reactor")


def _to_daemon(ctx: Ctx, request: dict[str, Any]) -> dict[str, Any]:
    from cloacinactl.engine.graphs.feed import feed_socket_path, send_request
    from cloacinactl.errors import NotFoundError, TransportError, UserError

    path = feed_socket_path(ctx.home.root)
    try:
        answer = send_request(path, request)
    except (OSError, ValueError) as exc:
        raise TransportError(
            f"cannot reach the daemon's graph feed: {exc}",
            hint="is the daemon running with this --home? (cloacinactl daemon status)",
        ) from None
    if answer.get("ok"):
        return {k: v for k, v in answer.items() if k != "ok"}
    message = str(answer.get("error") or "the daemon refused the request")
    if answer.get("code") == "not_found":
        raise NotFoundError(message)
    raise UserError(message)


def fires(ctx: Ctx, args: argparse.Namespace) -> None:
    """A reactor's recent fires, newest first: outcome, path taken, duration, error."""
    with ctx.client() as client:
        body = client.get(_path("reactors", args.name, "fires"))
    rows = [{**r, "path": " → ".join(r.get("path") or [])} for r in items_of(body)]
    show_list(ctx, body, FIRE_COLUMNS, id_field="fired_at", rows=rows)


def pause(ctx: Ctx, args: argparse.Namespace) -> None:
    """Pause a reactor: accepted events wait (durable) until it is resumed."""
    act(
        ctx,
        "POST",
        _path("reactors", args.name, "pause"),
        f"reactor '{args.name}' paused",
        id_field="name",
    )


def resume(ctx: Ctx, args: argparse.Namespace) -> None:
    """Resume a reactor (also clears a crashed state)."""
    act(
        ctx,
        "POST",
        _path("reactors", args.name, "resume"),
        f"reactor '{args.name}' resumed",
        id_field="name",
    )


def register(noun: Noun) -> None:
    noun.verb("list", list_cmd)
    noun.verb("status", status).add_argument("name", metavar="NAME", help="Graph name.")
    noun.verb("accumulators", accumulators)
    p = noun.verb("inject", inject)
    p.add_argument("name", metavar="NAME", help="Accumulator name.")
    p.add_argument("--event", required=True, metavar="FILE|-", help="The event: JSON file or -.")
    p.add_argument("--daemon", action="store_true", help="Feed the local daemon, not a server.")
    p = noun.verb("fire", fire)
    p.add_argument("name", metavar="NAME", help="Reactor name.")
    p.add_argument("--inputs", metavar="FILE|-", help="Replace the inputs first (fire_with).")
    p.add_argument("--daemon", action="store_true", help="Fire in the local daemon.")
    for verb, func in (("fires", fires), ("pause", pause), ("resume", resume)):
        noun.verb(verb, func).add_argument("name", metavar="NAME", help="Reactor name.")
