"""The sandbox agent's HTTP app: its routes for sessions, cells, shell, files and interfaces, behind a token
(`auth`); what they act on is `state.AgentState`, and a failure becomes a typed reply (`replies`).

Cell execution runs in a task of its own, not in the request: if the server
goes away mid-cell, the cell still finishes and is saved to the notebook.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from typing import Any, AsyncIterator, Callable

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from seer_mcp.agent import files
from seer_mcp.agent.auth import BearerAuth
from seer_mcp.agent.cell_runs import CellRun
from seer_mcp.agent.kernels import KernelDeadError, KernelSession
from seer_mcp.agent.replies import error_response
from seer_mcp.agent.shell import run_command
from seer_mcp.agent.shell_session import ShellSession
from seer_mcp.agent.state import AgentState, SandboxLayout
from seer_mcp.wire import (
    AgentHealth,
    CellResult,
    EditCellRequest,
    ExecRequest,
    ExecuteRequest,
    InterfaceCallRequest,
    LifetimeRequest,
    InterfaceInfo,
    MarkdownRequest,
    MarkdownResult,
    ServeInterfaceRequest,
    SessionInfo,
    StartSessionRequest,
    WaitCellRequest,
    WriteFileRequest,
)

__all__ = ["AgentState", "SandboxLayout", "create_app"]

log = logging.getLogger(__name__)

DEFAULT_CELL_TIMEOUT_S = 600.0
# A cell that finishes within this long is answered with one plain JSON reply.
QUICK_REPLY_S = 0.25


def _handler(fn: Callable[[Request, AgentState], Any]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            result = await fn(request, request.app.state.agent)
        except Exception as exc:  # every failure becomes a typed reply, never a dropped connection
            return error_response(exc)
        if isinstance(result, Response):
            return result
        if isinstance(result, BaseModel):
            return JSONResponse(result.model_dump(mode="json"))
        return JSONResponse(result)
    return endpoint


async def _body(request: Request, model: type[BaseModel]) -> Any:
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"request body is not JSON: {exc}") from None
    return model.model_validate(data)


async def health(request: Request, agent: AgentState) -> AgentHealth:
    return AgentHealth(pid=os.getpid(), root=str(agent.layout.root),
                       sessions=[agent.info(s) for s in agent.sessions.values()],
                       kernel_pids=agent.kernel_pids(), cells_running=agent.cells_running(),
                       last_active=agent.limits.last_active if agent.limits else None)


async def start_session(request: Request, agent: AgentState) -> SessionInfo:
    return await agent.start_session(await _body(request, StartSessionRequest))


async def end_session(request: Request, agent: AgentState) -> dict[str, bool]:
    await agent.end_session(request.path_params["session_id"])
    return {"ended": True}


async def _start_cell(agent: AgentState, session: KernelSession | ShellSession, code: str, timeout: float | None,
                      replace_index: int | None = None) -> tuple[CellRun, str]:
    """Starts a cell in a task of its own; returns its run and a note on a detached cell that finished before it."""
    session_id = session.session_id
    earlier = agent.runs.settle_before_next(session_id)
    run = CellRun(task=None, partial=session.partial_outputs,  # type: ignore[arg-type]
                  cell_index=session.next_cell_index(replace_index))
    run.task = agent.run_cell(session.execute(code, timeout or DEFAULT_CELL_TIMEOUT_S, run.report, replace_index))
    return run, earlier


async def _cell_reply(agent: AgentState, session_id: str, run: CellRun, wait: float | None,
                      earlier: str = "") -> Response:
    """A quick cell's result as plain JSON; a slow cell's as JSON lines: progress, then the result.

    Deciding after a short wait keeps the common, fast cell on the cheapest reply
    path. With a `wait`, a cell still running when it runs out is answered
    "running" (with the output so far) and detached: it goes on, and
    /sessions/{id}/wait picks it up. So is one whose caller hung up.
    """
    events: asyncio.Queue[str] = asyncio.Queue()

    async def listen(progress: BaseModel) -> None:
        events.put_nowait(progress.model_dump_json())

    def line(result: CellResult) -> str:
        return result.model_copy(update={"earlier": earlier}).model_dump_json() if earlier else result.model_dump_json()

    def final_line() -> str:
        try:
            return line(run.finished())
        except Exception as exc:
            return json.dumps({"type": "error", **json.loads(error_response(exc).body)})

    async def lines() -> AsyncIterator[bytes]:
        deadline = None if wait is None else asyncio.get_running_loop().time() + wait
        run.listener = listen
        answered = False
        try:
            while True:
                getter = asyncio.ensure_future(events.get())
                left = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
                await asyncio.wait({getter, run.task}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result().encode() + b"\n"
                    continue
                getter.cancel()
                if run.task.done():
                    answered = True
                    yield final_line().encode() + b"\n"
                    return
                answered = True
                agent.runs.detach(session_id, run)
                yield line(run.still_running()).encode() + b"\n"
                return
        finally:
            run.listener = None
            if not answered and not run.task.done():
                agent.runs.detach(session_id, run)  # the caller hung up: the next one picks the cell up

    await asyncio.wait({run.task}, timeout=QUICK_REPLY_S if wait is None else min(QUICK_REPLY_S, wait))
    if not run.task.done():
        return StreamingResponse(lines(), media_type="application/x-ndjson")
    error = run.task.exception()
    if error is not None:
        return error_response(error)
    return Response(line(run.finished()), media_type="application/json")


async def execute(request: Request, agent: AgentState) -> Response:
    session = agent.session(request.path_params["session_id"])
    body = await _body(request, ExecuteRequest)
    if session.dead:
        raise KernelDeadError("kernel died, state lost; call restart_kernel")
    run, earlier = await _start_cell(agent, session, body.code, body.timeout)
    return await _cell_reply(agent, session.session_id, run, body.wait, earlier)


async def edit_cell(request: Request, agent: AgentState) -> Response:
    session = agent.notebook_session(request.path_params["session_id"])
    body = await _body(request, EditCellRequest)
    cells = session.notebook.cell_count
    if body.cell_index >= cells:
        raise IndexError(f"cell_index {body.cell_index} is out of range: the notebook has {cells} cells")
    if session.notebook.cell(body.cell_index)["cell_type"] != "code":
        raise ValueError(f"cell {body.cell_index} is a markdown cell, not a code cell")
    if session.dead:
        raise KernelDeadError("kernel died, state lost; call restart_kernel")
    run, earlier = await _start_cell(agent, session, body.code, body.timeout, replace_index=body.cell_index)
    return await _cell_reply(agent, session.session_id, run, body.wait, earlier)


async def wait_cell(request: Request, agent: AgentState) -> Response:
    session_id = request.path_params["session_id"]
    agent.session(session_id)
    body = await _body(request, WaitCellRequest)
    run = agent.runs.take(session_id)
    if run is None:
        raise LookupError(f"no cell of session {session_id!r} is left running: every cell's output was shown, "
                          "and all of it is in the notebook (read_notebook)")
    return await _cell_reply(agent, session_id, run, body.wait)


async def add_markdown(request: Request, agent: AgentState) -> MarkdownResult:
    session = agent.notebook_session(request.path_params["session_id"])
    body = await _body(request, MarkdownRequest)
    return MarkdownResult(cell_index=session.notebook.append_markdown(body.content))


async def interrupt(request: Request, agent: AgentState) -> SessionInfo:
    session = agent.session(request.path_params["session_id"])
    await session.interrupt()
    return agent.info(session)


async def restart(request: Request, agent: AgentState) -> SessionInfo:
    session = agent.session(request.path_params["session_id"])
    await session.restart()
    return agent.info(session)


async def notebook_page(request: Request, agent: AgentState) -> Any:
    session = agent.notebook_session(request.path_params["session_id"])
    start = int(request.query_params.get("start", 0))
    limit = int(request.query_params.get("limit", 20))
    if start < 0 or limit < 1:
        raise ValueError("start must be >= 0 and limit >= 1")
    page = session.notebook.page(start, limit)
    page.notebook_path = agent.info(session).notebook_path
    return page


async def notebook_file(request: Request, agent: AgentState) -> Response:
    session = agent.session(request.path_params["session_id"])
    if isinstance(session, ShellSession):
        return Response(session.transcript_bytes(), media_type="text/plain; charset=utf-8")
    notebook = session.notebook.path.relative_to(agent.layout.workspace)
    return Response(files.read_bytes(agent.layout.workspace, str(notebook)), media_type="application/x-ipynb+json")


async def exec_command(request: Request, agent: AgentState) -> Any:
    body = await _body(request, ExecRequest)
    return await run_command(body.command, cwd=agent.layout.workspace, env=agent.kernel_env, processes=agent.processes,
                             timeout=body.timeout)


async def read_file(request: Request, agent: AgentState) -> Any:
    return files.read_text(agent.layout.workspace, request.query_params.get("path", ""))


async def write_file(request: Request, agent: AgentState) -> Any:
    body = await _body(request, WriteFileRequest)
    return files.write_text(agent.layout.workspace, body.path, body.content)


async def upload_file(request: Request, agent: AgentState) -> Any:
    """Raw bytes to a workspace path: how the server places libraries and host files."""
    return files.write_bytes(agent.layout.workspace, request.query_params.get("path", ""), await request.body())


async def download_file(request: Request, agent: AgentState) -> Response:
    """A workspace file's bytes, whatever their size: how the server reads notebooks back."""
    return Response(files.read_bytes(agent.layout.workspace, request.query_params.get("path", "")),
                    media_type="application/octet-stream")


async def list_files(request: Request, agent: AgentState) -> Any:
    return files.list_dir(agent.layout.workspace, request.query_params.get("path", "."))


async def list_interfaces(request: Request, agent: AgentState) -> list[dict[str, Any]]:
    return [w.info().model_dump(mode="json") for w in agent.interfaces.workers.values()]


async def serve_interface(request: Request, agent: AgentState) -> InterfaceInfo:
    body = await _body(request, ServeInterfaceRequest)
    path = files.confine(agent.layout.workspace, body.path)
    return await agent.interfaces.serve(body, path)


async def reload_interface(request: Request, agent: AgentState) -> InterfaceInfo:
    return await agent.interfaces.reload(request.path_params["name"])


async def stop_interface(request: Request, agent: AgentState) -> dict[str, bool]:
    await agent.interfaces.stop(request.path_params["name"])
    return {"stopped": True}


async def call_interface(request: Request, agent: AgentState) -> Response:
    worker = agent.interfaces.get(request.path_params["name"])
    body = await _body(request, InterfaceCallRequest)
    result = await worker.call(request.path_params["function"], body.arguments, body.timeout)
    return Response(result.model_dump_json(), media_type="application/json")


async def set_lifetime(request: Request, agent: AgentState) -> dict[str, float | None]:
    body = await _body(request, LifetimeRequest)
    if agent.limits is not None:
        agent.limits.set_lifetime(body.expires_at)
    return {"expires_at": agent.limits.expires_at if agent.limits else None}


async def shutdown(request: Request, agent: AgentState) -> dict[str, bool]:
    await agent.shutdown()
    stop = request.app.state.stop
    asyncio.get_running_loop().call_soon(stop)
    return {"stopping": True}


def create_app(agent: AgentState, token: str, stop: Callable[[], None],
               on_ready: Callable[[], None] | None = None) -> ASGIApp:
    routes = [
        Route("/health", _handler(health), methods=["GET"]),
        Route("/sessions", _handler(start_session), methods=["POST"]),
        Route("/sessions/{session_id}", _handler(end_session), methods=["DELETE"]),
        Route("/sessions/{session_id}/execute", _handler(execute), methods=["POST"]),
        Route("/sessions/{session_id}/edit", _handler(edit_cell), methods=["POST"]),
        Route("/sessions/{session_id}/wait", _handler(wait_cell), methods=["POST"]),
        Route("/sessions/{session_id}/markdown", _handler(add_markdown), methods=["POST"]),
        Route("/sessions/{session_id}/interrupt", _handler(interrupt), methods=["POST"]),
        Route("/sessions/{session_id}/restart", _handler(restart), methods=["POST"]),
        Route("/sessions/{session_id}/notebook", _handler(notebook_page), methods=["GET"]),
        Route("/sessions/{session_id}/notebook.ipynb", _handler(notebook_file), methods=["GET"]),
        Route("/exec", _handler(exec_command), methods=["POST"]),
        Route("/files", _handler(read_file), methods=["GET"]),
        Route("/files", _handler(write_file), methods=["PUT"]),
        Route("/files/list", _handler(list_files), methods=["GET"]),
        Route("/files/raw", _handler(upload_file), methods=["PUT"]),
        Route("/files/raw", _handler(download_file), methods=["GET"]),
        Route("/interfaces", _handler(list_interfaces), methods=["GET"]),
        Route("/interfaces", _handler(serve_interface), methods=["POST"]),
        Route("/interfaces/{name}", _handler(stop_interface), methods=["DELETE"]),
        Route("/interfaces/{name}/reload", _handler(reload_interface), methods=["POST"]),
        Route("/interfaces/{name}/call/{function}", _handler(call_interface), methods=["POST"]),
        Route("/lifetime", _handler(set_lifetime), methods=["POST"]),
        Route("/shutdown", _handler(shutdown), methods=["POST"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if on_ready is not None:
            on_ready()
        yield
        await agent.shutdown()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.agent = agent
    app.state.stop = stop
    return BearerAuth(app, token, agent)

