"""The app in process (httpx's ASGI transport): what a real process cannot be made to do
on purpose — a route that crashes, a route missing from RULES — plus the pure helpers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter

from cloacinactl.config.home import Home
from cloacinactl.config.logfilter import resolve_filter
from cloacinactl.services.server import app as app_module
from cloacinactl.services.server.auth import bearer_key, keyed_router
from cloacinactl.services.server.auth_cache import AuthCache
from cloacinactl.services.server.authz import RULES, Rule
from cloacinactl.services.server.errors import ApiError, describe_validation
from cloacinactl.services.server.service import ServerServiceConfig
from cloacinactl.services.server.state import ServerState
from cloacinactl.store import Store
from cloacinactl.store.urls import parse_database_url


def server_state(tmp_path: Path) -> tuple[ServerState, Store]:
    url = parse_database_url(f"sqlite:///{tmp_path / 's.db'}")
    config = ServerServiceConfig(
        service="server",
        home=Home.resolve(tmp_path / "home"),
        log_filter=resolve_filter(verbose=False, env="warn"),
        database_url=url,
    )
    store = Store(url)
    store.migrate()
    state = ServerState(config, store)
    state.ready = True
    return state, store


@pytest.fixture
def crashing_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    router = keyed_router("test")

    @router.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("secret detail sk_live_123")

    @router.get("/unlisted")
    async def unlisted() -> dict[str, str]:
        return {"reached": "yes"}

    monkeypatch.setattr(app_module, "ROUTERS", [*app_module.ROUTERS, router])
    monkeypatch.setitem(RULES, ("GET", "/boom"), Rule(None, "public"))
    state, store = server_state(tmp_path)
    try:
        yield app_module.build_app(state)
    finally:
        store.close()


async def test_uncaught_exception_is_a_bare_500_envelope(crashing_app) -> None:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=crashing_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/boom", headers={"x-request-id": "crash-1"})
        assert r.status_code == 500
        assert r.json() == {"error": "internal server error", "code": "internal_error"}
        assert r.headers["x-request-id"] == "crash-1"
        assert "sk_live" not in r.text
        # a route nobody put in RULES is refused, not served
        r = await c.get("/unlisted")
        assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_a_route_that_skips_authorization_stops_the_app_being_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Authorization is the route class: a plain FastAPI route would be served to
    anyone, so the app refuses to start with one."""
    plain = APIRouter()

    @plain.get("/v1/open")
    async def open_route() -> dict[str, str]:
        return {"reached": "yes"}

    monkeypatch.setattr(app_module, "ROUTERS", [*app_module.ROUTERS, plain])
    monkeypatch.setitem(RULES, ("GET", "/v1/open"), Rule(None, "public"))
    state, store = server_state(tmp_path)
    try:
        with pytest.raises(TypeError, match="not an AuthorizedRoute"):
            app_module.build_app(state)
    finally:
        store.close()


def test_bearer_key_parsing() -> None:
    assert bearer_key("Bearer clk_abc") == "clk_abc"
    assert bearer_key("bearer  clk_abc ") == "clk_abc"
    for bad in (None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "clk_abc"):
        with pytest.raises(ApiError) as info:
            bearer_key(bad)
        assert info.value.status == 401 and info.value.code == "unauthorized"


def test_validation_messages_name_fields_never_values() -> None:
    code, message = describe_validation(
        [{"loc": ("body", "name"), "msg": "Field required", "input": {"token": "hunter2"}}]
    )
    assert code == "invalid_request" and "name" in message and "hunter2" not in message
    code, _ = describe_validation(
        [{"loc": ("query", "limit"), "msg": "Input should be less than or equal to 1000"}]
    )
    assert code == "invalid_pagination"
    code, _ = describe_validation([{"type": "json_invalid", "loc": ("body", 3), "msg": "x"}])
    assert code == "invalid_json"


def test_auth_cache_expires_and_clears() -> None:
    now = [0.0]
    cache: AuthCache[str] = AuthCache(ttl_s=5, max_entries=2, clock=lambda: now[0])
    cache.put("a", "alice")
    assert cache.get("a") == "alice"
    now[0] = 5.0
    assert cache.get("a") is None  # expired
    cache.put("a", "alice")
    cache.put("b", "bob")
    cache.put("c", "carol")  # over the bound: starts again rather than growing
    assert len(cache) == 1 and cache.get("c") == "carol"
    cache.clear()
    assert cache.get("c") is None
