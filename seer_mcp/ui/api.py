"""The web UI's JSON API and event stream: thin views over the manager.

Handlers take the request and the live manager and return a response or plain
data; `app` checks the caller, turns data into JSON and errors into status codes.
Reading a notebook here is not activity: a watched sandbox still meets its idle limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any, AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from seer_mcp.errors import NotFound

if TYPE_CHECKING:
    from seer_mcp.manager.facade import SandboxManager

# A comment line this often keeps proxies from closing a quiet stream, and lets a
# stream whose reader left find out and end.
KEEPALIVE_S = 15.0


def sandboxes(request: Request, manager: "SandboxManager") -> dict[str, Any]:
    interfaces = manager.interfaces.list()
    running = manager.events.running
    out = []
    for info in manager.list_sandboxes():
        sandbox_id = info["sandbox_id"]
        info["sessions"] = [{"session_id": s.session_id, "name": s.name, "kind": s.kind,
                             "running": running.get(s.session_id)} for s in manager.sessions_of(sandbox_id)]
        info["interfaces"] = [{"name": i["name"], "expose_as": i["expose_as"],
                               "functions": [f["name"] for f in i["functions"]]}
                              for i in interfaces if i["sandbox_id"] == sandbox_id]
        out.append(info)
    return {"sandboxes": out}


def snapshots(request: Request, manager: "SandboxManager") -> dict[str, Any]:
    return {"snapshots": manager.snapshots.list()}


async def notebook(request: Request, manager: "SandboxManager") -> dict[str, Any]:
    """A notebook session's .ipynb as JSON, or a cli session's transcript text, plus the cell running now."""
    session_id = request.path_params["session_id"]
    record, _ = manager.session(session_id)
    data = await manager.notebook_bytes(session_id)
    out: dict[str, Any] = {"session_id": session_id, "sandbox_id": record.sandbox_id, "name": record.name,
                           "kind": record.kind, "running": manager.events.running.get(session_id)}
    if record.kind == "cli":
        out["transcript"] = data.decode(errors="replace")
    else:
        out["notebook"] = json.loads(data)
    return out


async def interrupt(request: Request, manager: "SandboxManager") -> dict[str, Any]:
    return await manager.interrupt(request.path_params["session_id"])


async def restart(request: Request, manager: "SandboxManager") -> dict[str, Any]:
    return await manager.restart(request.path_params["session_id"])


async def terminate(request: Request, manager: "SandboxManager") -> dict[str, Any]:
    sandbox_id = request.path_params["sandbox_id"]
    if sandbox_id not in {s["sandbox_id"] for s in manager.list_sandboxes()}:
        raise NotFound(f"no running sandbox {sandbox_id!r}")
    return await manager.terminate_sandbox(sandbox_id, detail="terminated from the web UI")


def events(request: Request, manager: "SandboxManager") -> StreamingResponse:
    """Server-sent events: a `hello` with the cells running now, then every manager event, one `data:` line each.

    When the browser goes away Starlette cancels the stream, and the subscription's
    queue is dropped with it; no task outlives the connection.
    """
    bus = manager.events

    def hello() -> dict[str, Any]:
        return {"type": "hello", "running": bus.running}

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        async for event in bus.subscribe(keepalive=KEEPALIVE_S, snapshot=hello):
            yield b": keep-alive\n\n" if event["type"] == "keepalive" else _sse(event)

    return _EventStreamResponse(stream(), media_type="text/event-stream",
                                headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


class _EventStreamResponse(StreamingResponse):
    """An event stream that a stopping server cuts short ends its reply cleanly.

    uvicorn cancels the requests still open after its graceful-shutdown wait; an open
    page's stream always is one. Finishing the body here spares the operator a
    traceback for each open tab when they stop the server.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # the cancellation is handled: the reply is over


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, default=str)}\n\n".encode()
