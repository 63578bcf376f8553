"""The daemon probe: connect to ``daemon.sock``, read one JSON object."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from cloacinactl.errors import TransportError

_MAX = 1 << 20


def probe_daemon(path: Path, timeout_s: float = 2.0) -> dict[str, Any]:
    """The daemon's health JSON; TransportError (exit 2) when it cannot be read."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    chunks: list[bytes] = []
    try:
        sock.connect(str(path))
        size = 0
        while size < _MAX:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except FileNotFoundError:
        raise TransportError(f"daemon is not running (no socket at {path})") from None
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise TransportError(f"daemon socket {path} unreachable: {reason}") from None
    finally:
        sock.close()
    try:
        body = json.loads(b"".join(chunks))
    except ValueError:
        raise TransportError(f"daemon socket {path} sent an unreadable answer") from None
    if not isinstance(body, dict):
        raise TransportError(f"daemon socket {path} sent an unexpected answer")
    return body
