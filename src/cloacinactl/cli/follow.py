"""Following an execution's events live (``execution events --follow``, ``workflow run --wait``).

The server streams them as server-sent events from ``…/events/stream`` (``id:``
= the event's sequence number) and closes the stream when the execution ends.
A dropped or stalled connection is resumed with ``Last-Event-ID``, so nothing
is shown twice or skipped; when the stream ends the execution's status decides
the exit code (0 Completed, 5 Failed or Cancelled).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cloacinactl.cli.sse import SseDecoder
from cloacinactl.errors import EXIT_OK, EXIT_REJECTED, TransportError

if TYPE_CHECKING:
    from cloacinactl.cli.http import ApiClient

TERMINAL = frozenset({"completed", "failed", "cancelled"})
CONTROL_EVENTS = frozenset({"end", "done", "close", "ping"})
READ_TIMEOUT = 60.0  # the server sends keep-alive comments well within this
MAX_FAILURES = 5
EventSink = Callable[[dict[str, Any]], None]


def is_terminal(status: object) -> bool:
    return str(status).lower() in TERMINAL


def outcome_code(status: object) -> int:
    """0 when the execution completed, 5 (server-side failure) otherwise."""
    return EXIT_OK if str(status).lower() == "completed" else EXIT_REJECTED


def decode_events(lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    """The execution events carried by an event stream's lines (control events left out)."""
    decoder = SseDecoder()
    for line in lines:
        message = decoder.feed(line)
        if message is None or message.event in CONTROL_EVENTS:
            continue
        try:
            payload = json.loads(message.data)
        except json.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            payload = {"event_data": message.data}
        if "event_type" not in payload and message.event != "message":
            payload["event_type"] = message.event
        if payload.get("sequence_num") is None and message.id and message.id.isdigit():
            payload["sequence_num"] = int(message.id)
        yield payload


def sequence(event: Mapping[str, Any]) -> int | None:
    value = event.get("sequence_num")
    return value if isinstance(value, int) else None


class Follower:
    """Shows one execution's events, each once and in order, until it ends."""

    def __init__(
        self,
        client: ApiClient,
        execution_id: str,
        on_event: EventSink,
        *,
        after: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.execution_id = execution_id
        self.on_event = on_event
        self.last_seq = after
        self.sleep = sleep

    def _path(self, *parts: str) -> str:
        return self.client.tenant_path("executions", self.execution_id, *parts)

    def _emit(self, event: dict[str, Any]) -> bool:
        seq = sequence(event)
        if seq is not None and self.last_seq is not None and seq <= self.last_seq:
            return False  # already shown (a resumed stream may repeat)
        if seq is not None:
            self.last_seq = seq
        self.on_event(event)
        return True

    def _stream_once(self) -> int:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_seq is not None:
            headers["Last-Event-ID"] = str(self.last_seq)
        shown = 0
        with self.client.stream(
            "GET", self._path("events", "stream"), headers=headers, read_timeout=READ_TIMEOUT
        ) as response:
            for event in decode_events(response.iter_lines()):
                shown += self._emit(event)
        return shown

    def status(self) -> str:
        detail = self.client.get(self._path())
        return str(detail.get("status")) if isinstance(detail, dict) else "unknown"

    def catch_up(self) -> None:
        """Show any event the stream did not deliver (a last look once it has ended)."""
        body = self.client.get(self._path("events"))
        events = body.get("events") if isinstance(body, dict) else None
        for event in sorted(
            (e for e in events or [] if isinstance(e, dict)),
            key=lambda e: sequence(e) or 0,
        ):
            self._emit(event)

    def run(self) -> str:
        """Follow until the execution is terminal; its final status."""
        failures = 0
        quiet_rounds = 0
        while True:
            try:
                shown = self._stream_once()
                failures = 0
                status = self.status()
            except TransportError:
                failures += 1
                if failures >= MAX_FAILURES:
                    raise
                self.sleep(min(0.5 * 2 ** (failures - 1), 5.0))
                continue
            if is_terminal(status):
                self.catch_up()
                return status
            # Closed while still running (a restart, a proxy's idle cut): resume.
            quiet_rounds = 0 if shown else quiet_rounds + 1
            self.sleep(min(0.2 * 2**quiet_rounds, 5.0))


def _event_colour(event_type: str) -> str:
    from cloacinactl.cli.output import GREEN, RED, YELLOW

    if event_type.endswith(("failed", "abandoned", "cancelled")):
        return RED
    if event_type.endswith("completed"):
        return GREEN
    if event_type.endswith(("retry_scheduled", "paused", "skipped")):
        return YELLOW
    return ""


def event_text(event: Mapping[str, Any], *, width: int = 120, colour: bool = False) -> str:
    """One event as one line: time, sequence number, type, task, data (cut to ``width``)."""
    from cloacinactl.cli.output import RESET, cell, cut

    seq = sequence(event)
    kind = str(event.get("event_type") or "-")
    data = event.get("event_data")
    if isinstance(data, str):
        with contextlib.suppress(json.JSONDecodeError):
            data = json.loads(data)
    parts = [
        str(event.get("created_at") or "-"),
        f"#{seq}" if seq is not None else "#-",
        kind.ljust(20),
        str(event.get("task_name") or "-").ljust(14),
    ]
    text = "  ".join(parts)
    if data not in (None, {}, ""):
        text += "  " + cell(data)
    text = cut(text, width)
    paint = _event_colour(kind) if colour else ""
    return f"{paint}{text}{RESET}" if paint else text


def printer(output: str, *, no_color: bool = False) -> EventSink:
    """Print each event as it comes, in the ``-o`` format: table one line each, json
    one compact document per line, yaml ``---``-separated documents, id the event ids."""
    import os
    import shutil
    import sys

    from cloacinactl.cli.output import colour_allowed

    colour = output == "table" and colour_allowed(sys.stdout, no_color, os.environ)
    width = shutil.get_terminal_size((160, 24)).columns

    def show(event: dict[str, Any]) -> None:
        if output == "json":
            text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        elif output == "yaml":
            import yaml

            text = "---\n" + str(yaml.safe_dump(event, sort_keys=False, allow_unicode=True))
            text = text.rstrip("\n")
        elif output == "id":
            text = str(event.get("id") or sequence(event) or "")
        else:
            text = event_text(event, width=width, colour=colour)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    return show
