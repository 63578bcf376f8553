"""The HTTP client base every server command uses (httpx, imported on first request).

It adds ``Authorization: Bearer <key>``, applies timeouts, builds tenant paths,
and maps failures to exit codes: unreachable/refused/timeout → TransportError (2),
404 → NotFoundError (3), 401/403 → AuthError (4), any other 4xx/5xx →
ServerRejectedError (5), with the server's ``{"error", "code"}`` message.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from cloacinactl.errors import (
    AuthError,
    CloacinaError,
    NotFoundError,
    ServerRejectedError,
    TransportError,
    UserError,
)

if TYPE_CHECKING:
    import httpx

    from cloacinactl.cli.multipart import FilePart

DEFAULT_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0
log = logging.getLogger("cloacinactl.cli.http")


def check_server_url(server: str) -> str:
    """The URL without a trailing slash; UserError (exit 1) when it is not http(s)."""
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(
            f"invalid server URL '{server}'",
            hint="use http://HOST:PORT or https://HOST (e.g. --server http://127.0.0.1:8080)",
        )
    return server.rstrip("/")


def segment(value: str) -> str:
    """One URL path segment, percent-encoded (``a/b`` → ``a%2Fb``)."""
    return quote(str(value), safe="")


def server_message(response: httpx.Response) -> str:
    """The server's ``error`` (and ``code``) from a JSON body, else the body's text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("error") or body.get("detail")):
        message = body.get("error") or body.get("detail")
        if not isinstance(message, str):
            import json

            message = json.dumps(message)
        code = body.get("code")
        return f"{message} ({code})" if code else message
    text = " ".join(response.text.split())
    return text[:300] if text else (response.reason_phrase or "no details")


def error_for(response: httpx.Response) -> CloacinaError:
    """The exit-code exception for an HTTP error response."""
    status = response.status_code
    what = f"{response.request.method} {response.request.url.path}"
    message = f"{server_message(response)} (HTTP {status} on {what})"
    if status == 404:
        return NotFoundError(message)
    if status in (401, 403):
        return AuthError(
            message,
            hint="check --api-key or the profile's api_key (and its role)",
        )
    return ServerRejectedError(message)


def transport_error(exc: Exception, url: str) -> TransportError:
    """The exit-2 error for a failed connection, naming the URL tried."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return TransportError(
            f"timed out talking to {url} ({type(exc).__name__})",
            hint="is the server overloaded or the address wrong?",
        )
    return TransportError(
        f"cannot reach server at {url}: {exc or type(exc).__name__}",
        hint="is the server running? check --server or the profile's server",
    )


class ApiClient:
    """A synchronous client for one server, key and tenant. Use as a context manager."""

    def __init__(
        self,
        server: str,
        api_key: str | None = None,
        *,
        tenant: str = "public",
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.server = check_server_url(server)
        self.api_key = api_key
        self.tenant = tenant
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self._client: httpx.Client | None = None

    def tenant_path(self, *parts: str) -> str:
        """``/v1/tenants/<tenant>/<parts…>`` with every segment encoded."""
        return "/v1/tenants/" + "/".join(segment(p) for p in (self.tenant, *parts))

    @staticmethod
    def path(*parts: str) -> str:
        """``/v1/<parts…>`` with every segment encoded."""
        return "/v1/" + "/".join(segment(p) for p in parts)

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            from cloacinactl import __version__

            headers = {"User-Agent": f"cloacinactl/{__version__}", "Accept": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            self._client = httpx.Client(
                base_url=self.server,
                headers=headers,
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                follow_redirects=False,
                trust_env=True,  # HTTPS_PROXY / NO_PROXY / SSL_CERT_FILE, as curl does
            )
        return self._client

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | Iterable[bytes] | None = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send a request; return the 2xx/3xx response or raise the mapped error."""
        import httpx

        url = f"{self.server}{path}"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        log.debug("http request method=%s url=%s params=%s", method, url, query)
        try:
            response = self._http().request(
                method,
                path,
                params=query or None,
                json=json,
                content=content,
                files=files,
                headers=dict(headers or {}),
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, url) from exc
        log.debug("http response status=%s url=%s", response.status_code, url)
        if response.status_code >= 400:
            raise error_for(response)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`request`, returning the decoded JSON body (None when empty)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServerRejectedError(
                f"server sent a non-JSON response to {method} {path} (HTTP {response.status_code})"
            ) from None

    @contextlib.contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> Iterator[httpx.Response]:
        """A streamed response (read it with ``iter_lines``); errors mapped as in :meth:`request`.

        ``read_timeout`` bounds the wait for each chunk (None: wait forever); a
        connection that drops or stalls mid-stream raises TransportError too.
        """
        import httpx

        url = f"{self.server}{path}"
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout, read=read_timeout)
        log.debug("http stream method=%s url=%s", method, url)
        try:
            with self._http().stream(
                method, path, headers=dict(headers or {}), timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_for(response)
                yield response
        except httpx.TransportError as exc:
            raise transport_error(exc, url) from exc

    def upload(
        self,
        path: str,
        parts: Sequence[FilePart],
        *,
        on_chunk: Callable[[int], None] | None = None,
    ) -> Any:
        """POST files as multipart/form-data, streamed from disk; the decoded JSON answer."""
        from cloacinactl.cli.multipart import MultipartBody

        body = MultipartBody(parts)
        headers = {"Content-Type": body.content_type, "Content-Length": str(body.length)}
        return self.call("POST", path, content=body.chunks(on_chunk), headers=headers)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
