"""A tiny HTTP GET for probes (``http.client``: no httpx import on the fast path)."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from cloacinactl.errors import TransportError


def base_url(where: str) -> str:
    """``127.0.0.1:8080`` → ``http://127.0.0.1:8080``; URLs are kept (no trailing /)."""
    where = where.strip().rstrip("/")
    return where if "://" in where else f"http://{where}"


def http_get_json(base: str, path: str, timeout_s: float = 2.0) -> tuple[int, Any]:
    """GET ``base + path``; (status, parsed JSON or None). TransportError when unreachable."""
    url = urlsplit(base_url(base))
    if url.scheme not in ("http", "https") or not url.hostname:
        raise TransportError(f"cannot probe {base!r}: not an http(s) URL")
    conn_cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(url.hostname, url.port, timeout=timeout_s)
    try:
        conn.request("GET", url.path.rstrip("/") + path, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        raise TransportError(f"{base_url(base)}{path} unreachable: {reason}") from None
    finally:
        conn.close()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return resp.status, body
