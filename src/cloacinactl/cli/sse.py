"""A server-sent events decoder (the text/event-stream format), pure and line based.

Feed it the stream's lines (without their line endings) one by one; it returns
an :class:`SseEvent` each time a blank line completes one. Comment lines
(``: ping``) are ignored, ``id:`` is remembered as the last event id (what a
reconnect sends as ``Last-Event-ID``), a ``data:`` field may span lines.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event: its type (``message`` unless named), data and id."""

    event: str
    data: str
    id: str | None


class SseDecoder:
    """Turns lines into events, following the WHATWG event-stream parsing rules."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.retry_ms: int | None = None
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        """Process one line; the completed event when ``line`` is blank, else None."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return SseEvent(event=event or "message", data="\n".join(data), id=self.last_id)
