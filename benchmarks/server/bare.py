"""The ceiling: a bare ASGI app on hypercorn's trio worker answering fixed JSON.

``python -m benchmarks.server.bare PORTFILE``: binds 127.0.0.1:0, writes the port to
PORTFILE, serves until killed. Every path answers 200 with the body given on
stdin (one line), so it sends the same bytes our server does.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve


def make_app(bodies: dict[str, bytes]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = bodies.get(scope["path"], b'{"status":"ok"}')
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def main(port_file: Path, bodies: dict[str, bytes]) -> None:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(serve, make_app(bodies), config)
        port_file.write_text(binds[0].rsplit(":", 1)[1])


if __name__ == "__main__":
    import json

    given = json.loads(sys.stdin.read() or "{}")
    trio.run(main, Path(sys.argv[1]), {k: v.encode() for k, v in given.items()})
