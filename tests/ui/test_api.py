"""The web UI's server side without a browser: the event bus, auth, bad input, the event stream, --ui-port."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from seer_mcp.manager.events import EventBus
from seer_mcp.settings import Settings
from seer_mcp.ui import api
from tests.conftest import server_env, stdio_server_with_ui
from tests.ui.harness import ServerThread, free_port, wait_for

# ----- the event bus ------------------------------------------------------------


async def test_the_bus_fans_out_tracks_running_cells_and_drops_the_oldest_for_a_slow_reader() -> None:
    bus = EventBus(queue_bound=3)
    fast, slow = bus.subscribe(), bus.subscribe()
    first = asyncio.ensure_future(anext(fast))
    second = asyncio.ensure_future(anext(slow))
    await asyncio.sleep(0)  # both are subscribed now
    bus.publish({"type": "cell_started", "session_id": "s1", "code": "x = 1"})
    assert (await first)["type"] == (await second)["type"] == "cell_started"
    assert bus.running["s1"]["code"] == "x = 1"
    bus.publish({"type": "cell_progress", "session_id": "s1", "elapsed": 2.0, "last_line": "step 3"})
    assert bus.running["s1"]["last_line"] == "step 3"
    for n in range(5):
        bus.publish({"type": "tick", "n": n})
    assert [(await anext(slow))["n"] for _ in range(3)] == [2, 3, 4]  # the bound kept the newest three
    bus.publish({"type": "cell_finished", "session_id": "s1", "status": "ok"})
    assert bus.running == {}
    bus.close()
    with pytest.raises(StopAsyncIteration):
        while True:
            await anext(fast)
    assert bus.subscribers == 1  # `fast` has left; `slow` is still suspended at its last yield
    await slow.aclose()
    assert bus.subscribers == 0


async def test_an_event_published_as_a_reader_starts_comes_after_its_snapshot() -> None:
    bus = EventBus()

    def snapshot() -> dict[str, object]:
        bus.publish({"type": "cell_started", "session_id": "s1", "code": "x = 1"})  # lands right then
        return {"type": "hello", "running": dict(bus.running)}

    stream = bus.subscribe(snapshot=snapshot)
    hello = await anext(stream)
    assert hello["type"] == "hello" and bus.subscribers == 1
    assert (await asyncio.wait_for(anext(stream), 2))["type"] == "cell_started"
    await stream.aclose()
    assert bus.subscribers == 0


async def test_a_quiet_subscription_gets_keepalives() -> None:
    bus = EventBus()
    stream = bus.subscribe(keepalive=0.05)
    assert (await asyncio.wait_for(anext(stream), 2))["type"] == "keepalive"
    await stream.aclose()
    assert bus.subscribers == 0


# ----- the HTTP surface -------------------------------------------------------------


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    running = ServerThread(settings, "api-test-token-" + os.urandom(8).hex()).start()
    try:
        yield running
    finally:
        running.stop()


def _bearer(server: ServerThread) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def test_every_route_but_login_needs_the_token(server: ServerThread) -> None:
    base = server.base
    for path in ("/ui/", "/ui/static/app.js", "/ui/api/sandboxes", "/ui/api/snapshots", "/ui/api/events",
                 "/ui/api/sessions/ses-x/notebook", "/ui/download/ses-x.ipynb", "/ui/download/ses-x/transcript"):
        assert httpx.get(base + path).status_code == 401, path
        assert httpx.get(base + path, headers={"Authorization": "Bearer wrong"}).status_code == 401, path
    assert httpx.post(base + "/ui/api/sandboxes/sb-x/terminate").status_code == 401
    assert "log in with the link" in httpx.get(base + "/ui/").text.lower()
    # The MCP endpoint keeps its own bearer check.
    assert httpx.post(base + "/mcp", json={}).status_code == 401


def test_login_trades_the_token_for_a_strict_httponly_cookie(server: ServerThread) -> None:
    with httpx.Client(base_url=server.base) as browser:
        response = browser.get(f"/ui/login?token={server.token}")
        assert response.status_code == 303 and response.headers["location"] == "/ui/"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
        assert server.token not in cookie  # the cookie is a MAC of the token, not the token
        page = browser.get("/ui/")
        assert page.status_code == 200 and "app.js" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert browser.get("/ui/api/sandboxes").json() == {"sandboxes": []}
        # Mutations must come from our own page.
        evil = browser.post("/ui/api/sandboxes/sb-x/terminate", headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403


def test_bad_input_gets_a_clear_error_and_the_server_goes_on(server: ServerThread) -> None:
    with httpx.Client(base_url=server.base, headers=_bearer(server)) as client:
        for method, path in [("GET", "/ui/api/sessions/ses-nope/notebook"), ("POST", "/ui/api/sessions/x/interrupt"),
                             ("POST", "/ui/api/sessions/x/restart"), ("POST", "/ui/api/sandboxes/sb-x/terminate"),
                             ("GET", "/ui/download/ses-nope.ipynb"), ("GET", "/ui/download/ses-nope/transcript"),
                             ("GET", "/ui/static/..%2Fapp.py"), ("GET", "/ui/static/index.html%00")]:
            response = client.request(method, path)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["error"]
        assert client.get("/ui/api/sandboxes").status_code == 200


def test_an_event_stream_ends_with_its_reader(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "KEEPALIVE_S", 0.2)
    bus = server.manager.events
    with httpx.stream("GET", f"{server.base}/ui/api/events", headers=_bearer(server), timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert [next(lines), next(lines), next(lines)] == ["retry: 2000", "", 'data: {"type": "hello", "running": {}}']
        assert bus.subscribers == 1
        bus.publish({"type": "sandbox_created", "sandbox_id": "sb-test"})
        assert wait_for(lambda: next(lines).startswith("data: "), 5, what="the event")
        assert wait_for(lambda: next(lines) == ": keep-alive", 5, what="a keep-alive")
    wait_for(lambda: bus.subscribers == 0, 5, what="the subscription to end with the connection")


# ----- beside a stdio server ------------------------------------------------------


def test_serve_over_stdio_with_ui_port_serves_the_page_beside_it(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = {**server_env(settings), "SEER_HTTP_TOKEN": "stdio-ui-token"}
    errlog = tmp_path / "server.err"
    with stdio_server_with_ui(env, port, errlog) as proc:
        link = f"http://127.0.0.1:{port}/ui/login?token=stdio-ui-token"
        wait_for(lambda: f"web UI: {link}" in errlog.read_text(), 30, interval=0.1, what="the login link on stderr")

        with httpx.Client() as client:
            wait_for(lambda: client.get(link).status_code == 303, 30, interval=0.1, what="the UI to listen")
            # The login link logs in; the UI answers from the stdio server's own manager.
            assert client.get(f"http://127.0.0.1:{port}/ui/api/sandboxes").json() == {"sandboxes": []}
            assert client.get(f"http://127.0.0.1:{port}/").headers["location"] == "/ui/"
    assert proc.stdout.read() == b""  # type: ignore[union-attr]  # the link went to stderr, not the MCP channel
