"""The machinery under the Python API: one manager on an event loop of its own.

A script calls `Sandbox(config).start()` plainly, from plain code or from
inside `async def main()`; either way the work runs on this runtime's loop in
a background thread, the same `SandboxManager` the MCP tools drive. Sessions
get their MCP servers here too: each is a bound server (see `seer_mcp.manager.scope`)
on a localhost port of its own, behind its own bearer token.

Everything the runtime started is terminated by `close()`, which runs at
interpreter exit if the script did not call it.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import concurrent.futures.thread  # registers its exit hook now, so that ours (registered later) runs first
import contextlib
import logging
import secrets
import socket
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn
from starlette.middleware import Middleware

from seer_mcp.server.auth import SingleTokenVerifier
from seer_mcp.server.origin import HostOriginGuard
from seer_mcp.manager.facade import SandboxManager
from seer_mcp.manager.scope import Scope
from seer_mcp.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class ServedSession:
    """A bound MCP server this runtime runs: where it listens and its token."""

    url: str
    token: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    def mcp_config(self, name: str) -> dict[str, Any]:
        """An MCP server entry as agent frameworks take it (claude-agent-sdk's `mcp_servers`, fastmcp's
        `mcpServers`): streamable HTTP with the token as a bearer header."""
        return {name: {"type": "http", "transport": "http", "url": self.url,
                       "headers": {"Authorization": f"Bearer {self.token}"}}}


class Runtime:
    def __init__(self, settings: Settings | None = None) -> None:
        # Sandboxes other processes started (a `seer-mcp serve` on the same state dir) are left alone:
        # the runtime terminates exactly the ones it created.
        self.settings = (settings or Settings()).model_copy(update={"terminate_on_exit": False})
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="seer-mcp-runtime", daemon=True)
        self._thread.start()
        self._owned: set[str] = set()  # sandboxes this runtime created: terminated on close
        self._servers: list[ServedSession] = []
        self._closed = False
        self.manager: SandboxManager = self.run(self._start_manager())
        _at_exit(self.close)

    async def _start_manager(self) -> SandboxManager:
        manager = SandboxManager(self.settings)
        await manager.start()
        # The bound servers' own tools: no interface may shadow them.
        from seer_mcp.tools.groups import TOOL_NAMES

        manager.interfaces.reserved_tool_names = set(TOOL_NAMES)
        return manager

    # ----- running coroutines from any thread ------------------------------------

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._closed:
            coro.close()
            raise RuntimeError("the seer-mcp runtime is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs `coro` on the runtime's loop and waits for it, from plain code or from another loop."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("Runtime.run called from the runtime's own loop")
        return self.submit(coro).result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Awaits `coro` on the runtime's loop without blocking the caller's loop."""
        return await asyncio.wrap_future(self.submit(coro))

    # ----- sandboxes and their servers ----------------------------------------------

    def own(self, sandbox_id: str) -> None:
        self._owned.add(sandbox_id)

    def disown(self, sandbox_id: str) -> None:
        self._owned.discard(sandbox_id)

    async def serve(self, scope: Scope, allowed: set[str], instructions: str) -> ServedSession:
        """Starts a bound MCP server for `scope` on a free localhost port."""
        from seer_mcp.server.app import build_bound_server

        token = secrets.token_urlsafe(32)
        mcp = build_bound_server(self.manager, scope, allowed, instructions, auth=SingleTokenVerifier(token))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        guard = Middleware(HostOriginGuard, host="127.0.0.1", port=port)  # as `serve --http`: no DNS rebinding
        app = mcp.http_app(path="/mcp", middleware=[guard], host_origin_protection=False)
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)  # uvicorn offers no event for "listening"
        if task.done():
            task.result()  # raises what stopped it
        served = ServedSession(f"http://127.0.0.1:{port}/mcp", token, server, task)
        self._servers.append(served)
        return served

    async def stop_serving(self, served: ServedSession) -> None:
        served.server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(served.task, 10)
        if served in self._servers:
            self._servers.remove(served)

    # ----- shutdown --------------------------------------------------------------

    def close(self) -> None:
        """Stops every session server and terminates every sandbox this runtime started."""
        if self._closed:
            return
        try:
            self.run(self._shutdown())
        except Exception:
            log.exception("closing the seer-mcp runtime failed")
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    async def _shutdown(self) -> None:
        for served in list(self._servers):
            await self.stop_serving(served)
        for sandbox_id in list(self._owned):
            with contextlib.suppress(Exception):
                await self.manager.terminate_sandbox(sandbox_id, detail="the script's runtime closed")
        self._owned.clear()
        await self.manager.close()


def _at_exit(callback: Any) -> None:
    """Runs `callback` at interpreter exit while worker threads can still start.

    Plain `atexit` is too late: by then concurrent.futures refuses new work, and
    stopping a sandbox waits on its processes in a worker thread. Hooks registered
    here run, last registered first, before concurrent.futures shuts down.
    """
    register = getattr(threading, "_register_atexit", None)
    if register is None:
        atexit.register(callback)
    else:
        register(callback)


_default: Runtime | None = None
_default_lock = threading.Lock()


def default_runtime() -> Runtime:
    """The process's runtime, made on first use with the settings from the environment."""
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = Runtime()
        return _default


def set_default_runtime(runtime: Runtime | None) -> None:
    """Makes `runtime` the one new API objects use (tests; scripts with their own settings)."""
    global _default
    with _default_lock:
        _default = runtime
