"""A small HTTP/1.1 keep-alive load generator on trio (one connection per client).

httpx costs more CPU per request than the servers under test on a 2-core
machine; this sends pre-built request bytes and parses only the status line and
``content-length``, so the server, not the client, is what is measured.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import trio


@dataclass(frozen=True)
class Result:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def request_bytes(
    host: str, port: int, path: str, key: str | None, body: bytes | None = None
) -> bytes:
    """A GET, or with ``body`` a POST of that JSON."""
    method = "GET" if body is None else "POST"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _read_response(stream: trio.SocketStream, buf: bytearray) -> int:
    while b"\r\n\r\n" not in buf:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = bytearray(rest)
    while len(body) < length:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    buf[:] = body[length:]
    return status


async def run_load(
    host: str,
    port: int,
    path: str,
    key: str | None,
    clients: int,
    seconds: float,
    body: bytes | None = None,
    expect: int = 200,
) -> Result:
    """``clients`` connections sending ``path`` (a POST of ``body`` when given) for
    ``seconds``; an answer other than ``expect`` counts as an error."""
    request = request_bytes(host, port, path, key, body)
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            # hypercorn closes a keep-alive connection after 1000 requests: reconnect
            stream = await trio.open_tcp_stream(host, port)
            buf = bytearray()
            async with stream:
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    try:
                        await stream.send_all(request)
                        status = await _read_response(stream, buf)
                    except (ConnectionError, trio.BrokenResourceError):
                        break
                    latencies.append(time.perf_counter() - t0)
                    if status != expect:
                        errors += 1

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(clients):
            nursery.start_soon(client)
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000 if latencies else 0.0
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0
    return Result(len(latencies), errors, elapsed, p50, p99)
