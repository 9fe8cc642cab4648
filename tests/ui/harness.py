"""What the web UI's browser tests run on: a real server in a thread, an MCP client in another, headless chromium.

The server is `build_server` with the HTTP bearer token and the UI, served by uvicorn
on a free port in a thread of this process; the MCP client keeps its own event
loop in a second thread, so a test can start a cell in the background while it
drives the browser from the main thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Coroutine

import uvicorn
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from seer_mcp.server.auth import SingleTokenVerifier
from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """The seer-mcp server with its web UI, on 127.0.0.1:<free port>, until `stop`."""

    def __init__(self, settings: Settings, token: str) -> None:
        self.token = token
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.mcp = build_server(settings, auth=SingleTokenVerifier(token), ui_token=token)
        app = self.mcp.http_app()
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="on",
                                                     log_level="warning", timeout_graceful_shutdown=2))
        self._thread = threading.Thread(target=self._server.run, name="seer-ui-server", daemon=True)

    def start(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)

    @property
    def manager(self) -> Any:
        return self.mcp._lifespan_result["manager"]  # the running server's SandboxManager


class McpThread:
    """A fastmcp Client over streamable HTTP, living in its own event loop thread."""

    def __init__(self, url: str, token: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="seer-ui-mcp", daemon=True)
        self._thread.start()
        self._client = Client(StreamableHttpTransport(url, auth=token))
        self.run(self._client.__aenter__(), timeout=60)

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 120) -> Any:
        return self.submit(coro).result(timeout)

    def call(self, tool: str, arguments: dict[str, Any] | None = None, timeout: float = 120) -> Any:
        return self.run(self._client.call_tool(tool, arguments or {}, raise_on_error=False), timeout)

    def call_later(self, tool: str, arguments: dict[str, Any]) -> concurrent.futures.Future[Any]:
        return self.submit(self._client.call_tool(tool, arguments, raise_on_error=False))

    def close(self) -> None:
        try:
            self.run(self._client.__aexit__(None, None, None), timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def chromium_paths() -> tuple[str, str]:
    """Debian's chromium and its chromedriver; missing ones fail the test loudly (CI must run these)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        raise AssertionError("the web UI tests need Debian's chromium and chromium-driver: scripts/setup-env.sh "
                             "installs them (apt-get install chromium chromium-driver); found browser="
                             f"{browser}, driver={driver}")
    return browser, driver


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.02, what: str = "condition") -> Any:
    """Polls `predicate` until it returns something truthy; returns it, or fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # an element that is being replaced, a page still loading
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
