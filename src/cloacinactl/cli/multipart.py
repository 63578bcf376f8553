"""A streamed multipart/form-data body for file uploads (pure, no HTTP).

The body is produced in chunks straight from the files on disk, so a large
archive is never held in memory, and its exact length is known in advance
(sent as ``Content-Length``). ``on_chunk`` is told how many file bytes each
chunk carried, which is what a progress bar needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

CHUNK = 64 * 1024


@dataclass(frozen=True)
class FilePart:
    """One form field whose value is a file's bytes."""

    field: str
    path: Path
    content_type: str = "application/octet-stream"

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def _quoted(text: str) -> str:
    """A form-data parameter value: quotes, backslashes and line breaks escaped."""
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def part_header(part: FilePart, boundary: str) -> bytes:
    disposition = f'form-data; name="{_quoted(part.field)}"; filename="{_quoted(part.path.name)}"'
    return (
        f"--{boundary}\r\n"
        f"Content-Disposition: {disposition}\r\n"
        f"Content-Type: {part.content_type}\r\n\r\n"
    ).encode()


class MultipartBody:
    """The parts, a boundary, the body's total length and its chunks."""

    def __init__(self, parts: Sequence[FilePart], boundary: str | None = None) -> None:
        self.parts = list(parts)
        self.boundary = boundary or os.urandom(16).hex()
        self.file_bytes = sum(p.size for p in self.parts)
        self._tail = f"--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def length(self) -> int:
        heads = sum(len(part_header(p, self.boundary)) + 2 for p in self.parts)
        return heads + self.file_bytes + len(self._tail)

    def chunks(self, on_chunk: Callable[[int], None] | None = None) -> Iterator[bytes]:
        """The body, in order; ``on_chunk(n)`` after each chunk of ``n`` file bytes."""
        for part in self.parts:
            yield part_header(part, self.boundary)
            with part.path.open("rb") as handle:
                while data := handle.read(CHUNK):
                    yield data
                    if on_chunk is not None:
                        on_chunk(len(data))
            yield b"\r\n"
        yield self._tail
