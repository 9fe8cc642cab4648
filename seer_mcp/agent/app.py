"""The sandbox agent's HTTP app: sessions, cells, shell and files, behind a token.

Cell execution runs in a task of its own, not in the request: if the server
goes away mid-cell, the cell still finishes and is saved to the notebook.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from seer_mcp.agent import files
from seer_mcp.agent.cell_runs import CellRun, CellRuns
from seer_mcp.agent.interfaces import InterfaceDeadError, InterfaceLoadError, InterfaceRegistry
from seer_mcp.agent.limits import SelfLimits
from seer_mcp.agent.kernels import KernelDeadError, KernelSession, write_kernelspec
from seer_mcp.agent.notebooks import NotebookFile
from seer_mcp.agent.memory_guard import MemoryGuard
from seer_mcp.agent.processes import DirectProcesses, Processes
from seer_mcp.agent.shell import run_command
from seer_mcp.agent.shell_session import ShellSession
from seer_mcp.bearer import presented_token, token_matches
from seer_mcp.limits import SESSION_SETUP_TIMEOUT_S
from seer_mcp.wire import (
    KERNEL_CONNECTIONS_DIR,
    KERNEL_SOCKETS_DIR,
    AgentError,
    AgentHealth,
    CellResult,
    EditCellRequest,
    ErrorKind,
    ExecRequest,
    ExecuteRequest,
    InterfaceCallRequest,
    InterfaceInfo,
    MarkdownRequest,
    MarkdownResult,
    ServeInterfaceRequest,
    SessionInfo,
    StartSessionRequest,
    WaitCellRequest,
    WriteFileRequest,
)

log = logging.getLogger(__name__)

DEFAULT_CELL_TIMEOUT_S = 600.0
# A cell that finishes within this long is answered with one plain JSON reply.
QUICK_REPLY_S = 0.25


@dataclass
class SandboxLayout:
    """Where things live inside one sandbox's root directory."""

    root: Path
    runtime: Path  # sockets and connection files; kept short for AF_UNIX limits
    workspace_dir: Path | None = None  # elsewhere than ROOT/workspace, e.g. /workspace on Modal

    @property
    def workspace(self) -> Path:
        return self.workspace_dir or self.root / "workspace"

    @property
    def notebooks(self) -> Path:
        return self.workspace / "notebooks"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def kernelspecs(self) -> Path:
        return self.root / "kernelspecs"

    @property
    def kernel_runtime(self) -> Path:
        """Kernels' IPC sockets: with `kernel_connections`, the only part of the runtime dir a sandbox sees."""
        return self.runtime / KERNEL_SOCKETS_DIR

    @property
    def kernel_connections(self) -> Path:
        """Kernels' connection files: shown to the sandbox read-only, so it cannot swap one for a link
        that the agent would then write through."""
        return self.runtime / KERNEL_CONNECTIONS_DIR

    @property
    def shells(self) -> Path:
        return self.root / "shells"

    def create(self) -> None:
        for path in (self.workspace, self.notebooks, self.logs, self.kernelspecs, self.runtime, self.kernel_runtime,
                     self.kernel_connections, self.shells):
            path.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)


class AgentState:
    """Everything one sandbox agent holds: its sessions, by id."""

    def __init__(self, layout: SandboxLayout, kernel_env: dict[str, str], mirror_dir: Path | None,
                 processes: Processes | None = None, memory_guard: MemoryGuard | None = None) -> None:
        self.layout = layout
        self.memory_guard = memory_guard
        self.processes: Processes = processes or DirectProcesses()
        self.kernel_env = kernel_env
        self.mirror_dir = mirror_dir
        self.sessions: dict[str, KernelSession | ShellSession] = {}
        self._cells: set[asyncio.Task[Any]] = set()
        self.runs = CellRuns()
        self.limits: SelfLimits | None = None  # the sandbox's own idle timeout and lifetime, when it has them
        self._spare: asyncio.Task[KernelSession] | None = None
        self.interfaces = InterfaceRegistry(layout.workspace, layout.logs, kernel_env, self.processes)
        write_kernelspec(layout.kernelspecs)

    def info(self, session: KernelSession | ShellSession) -> SessionInfo:
        if isinstance(session, ShellSession):
            return session.info(self.layout.workspace)
        assert session.notebook is not None
        mirror = session.notebook.mirror_path
        return SessionInfo(session_id=session.session_id, name=session.name,
                           notebook_path=str(session.notebook.path.relative_to(self.layout.workspace)),
                           mirror_path=str(mirror) if mirror else None, kernel_status=session.status)

    def session(self, session_id: str) -> KernelSession | ShellSession:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise LookupError(f"no session {session_id!r} in this sandbox") from None

    def notebook_session(self, session_id: str) -> KernelSession:
        session = self.session(session_id)
        if isinstance(session, ShellSession):
            raise ValueError(f"session {session_id!r} is a shell (cli) session: it runs commands with execute_code "
                             "and keeps a transcript, not notebook cells")
        return session

    def _free_name(self, name: str, suffix: str) -> str:
        filename = f"{name}{suffix}"
        counter = 2
        while (self.layout.notebooks / filename).exists():
            filename = f"{name}-{counter}{suffix}"
            counter += 1
        return filename

    async def start_session(self, request: StartSessionRequest) -> SessionInfo:
        session_id = request.session_id or f"ses-{uuid.uuid4().hex[:12]}"
        if session_id in self.sessions:
            raise ValueError(f"session {session_id!r} already exists")
        if request.kind == "cli":
            return self._start_shell(session_id, request)
        name = _safe_name(request.name or "notebook")
        filename = self._free_name(name, ".ipynb")
        mirror = self.mirror_dir / filename if self.mirror_dir else None
        # Created before the first await, so a concurrent start_session sees the name as taken.
        notebook = NotebookFile(self.layout.notebooks / filename, mirror, workspace=self.layout.workspace)
        try:
            kernel = await self._take_kernel()
        except BaseException:
            notebook.remove()
            raise
        kernel.bind(session_id, request.name or name, notebook)
        init_output = ""
        try:
            if request.model_code and request.show_model_code:
                result = await kernel.execute(request.model_code, SESSION_SETUP_TIMEOUT_S)
                if result.status != "ok":
                    raise ValueError(f"loading the models failed ({result.status}): "
                                     f"{result.error.ename + ': ' + result.error.evalue if result.error else result.message}")
            elif request.model_code:
                await kernel.run_hidden(request.model_code, SESSION_SETUP_TIMEOUT_S)
            if request.init_code:
                await kernel.run_hidden(request.init_code, SESSION_SETUP_TIMEOUT_S)
            if request.info_code:
                init_output = await kernel.run_hidden(request.info_code, SESSION_SETUP_TIMEOUT_S)
        except BaseException:
            await kernel.shutdown()
            notebook.remove()
            raise
        self.sessions[session_id] = kernel
        info = self.info(kernel)
        info.init_output = init_output
        return info

    def _start_shell(self, session_id: str, request: StartSessionRequest) -> SessionInfo:
        name = _safe_name(request.name or "shell")
        filename = self._free_name(name, ".transcript.txt")
        shell = ShellSession(session_id, request.name or name, self.layout.workspace, self.kernel_env,
                             self.layout.shells / session_id, self.layout.notebooks / filename,
                             self.mirror_dir / filename if self.mirror_dir else None, self.processes)
        shell.start()
        self.sessions[session_id] = shell
        return self.info(shell)

    def prewarm(self) -> None:
        """Start a spare kernel now, so the first session does not wait for one."""
        if self._spare is None:
            self._spare = asyncio.create_task(self._new_kernel())

    async def _new_kernel(self) -> KernelSession:
        kernel_id = uuid.uuid4().hex[:10]
        kernel = KernelSession(kernel_id, kernelspec_dir=self.layout.kernelspecs, runtime_dir=self.layout.kernel_runtime,
                               connection_dir=self.layout.kernel_connections,
                               cwd=self.layout.workspace, env=self.kernel_env,
                               log_path=self.layout.logs / f"kernel-{kernel_id}.log", processes=self.processes)
        kernel.memory_guard = self.memory_guard
        await kernel.start()
        await kernel.warm_up()
        return kernel

    async def _take_kernel(self) -> KernelSession:
        spare, self._spare = self._spare, None
        if spare is not None:
            try:
                kernel = await spare
                if not kernel.dead:
                    return kernel
                await kernel.shutdown()
            except Exception:
                log.warning("the spare kernel failed to start; starting another", exc_info=True)
        return await self._new_kernel()

    async def end_session(self, session_id: str) -> None:
        session = self.session(session_id)
        del self.sessions[session_id]
        self.runs.forget(session_id)
        await session.shutdown()

    def run_cell(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._cells.add(task)
        task.add_done_callback(self._cell_done)
        return task

    def _cell_done(self, task: asyncio.Task[Any]) -> None:
        self._cells.discard(task)
        if self.limits is not None:
            self.limits.touch()  # a cell that ends with nobody waiting is activity too

    def cells_running(self) -> bool:
        return bool(self._cells)

    async def shutdown(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:  # let it finish starting: a half-started kernel is harder to stop
            with contextlib.suppress(Exception):
                await (await spare).shutdown()
        await asyncio.gather(*(s.shutdown() for s in self.sessions.values()), self.interfaces.stop_all(),
                             return_exceptions=True)
        self.sessions.clear()

    def kernel_pids(self) -> list[int]:
        return [pid for s in self.sessions.values()
                if isinstance(s, KernelSession) and (pid := s.kernel_pid) is not None]


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return cleaned[:64] or "session"


_INTERFACE_CALL = re.compile(r"^/interfaces/([A-Za-z_][A-Za-z0-9_]*)/call/[^/]+$")


class BearerAuth:
    """Rejects every request that lacks the sandbox's token.

    An interface's own token opens that interface's call endpoint and nothing
    else: it is what a generated client library carries.
    """

    def __init__(self, app: ASGIApp, token: str, agent: "AgentState") -> None:
        self.app = app
        self.token = token.encode()
        self.interfaces = agent.interfaces
        self.agent = agent

    def _allows(self, path: str, authorization: bytes | None) -> bool:
        given = presented_token(authorization)
        if given is None:
            return False
        if token_matches(given, self.token):
            return True
        match = _INTERFACE_CALL.match(path)
        return bool(match and self.interfaces.token_allows(match.group(1), given))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if not self._allows(scope["path"], dict(scope["headers"]).get(b"authorization")):
                refusal = _error_reply(401, ErrorKind.UNAUTHORIZED, "missing or wrong sandbox token")
                await refusal(scope, receive, send)
                return
            limits = self.agent.limits
            if limits is not None and not _PASSIVE.match(scope["path"]):
                limits.begin()
                try:
                    await self.app(scope, receive, send)
                finally:
                    limits.end()
                return
        await self.app(scope, receive, send)


# Requests that only look, and so do not keep a sandbox from its idle limit.
_PASSIVE = re.compile(r"^/(health|sessions/[^/]+/notebook\.ipynb)$")


# Each exception the handlers let out, as (status, kind); the first match wins, so a subclass comes before its base.
_ERRORS: list[tuple[type[BaseException], int, ErrorKind]] = [
    (InterfaceLoadError, 422, ErrorKind.INTERFACE_LOAD_FAILED),
    (InterfaceDeadError, 409, ErrorKind.INTERFACE_DEAD),
    (files.PathOutsideSandbox, 403, ErrorKind.OUTSIDE_SANDBOX),  # a ValueError
    (IndexError, 400, ErrorKind.BAD_REQUEST),  # a LookupError: an index past the end is a wrong argument
    (LookupError, 404, ErrorKind.NOT_FOUND),
    (FileNotFoundError, 404, ErrorKind.NOT_FOUND),  # an OSError
    (KernelDeadError, 409, ErrorKind.KERNEL_DEAD),
    (ValueError, 400, ErrorKind.BAD_REQUEST),
    (OSError, 400, ErrorKind.BAD_REQUEST),
]


def _error_response(exc: BaseException) -> JSONResponse:
    if isinstance(exc, ValidationError):
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _error_reply(422, ErrorKind.BAD_REQUEST, detail)
    for raised, status, kind in _ERRORS:
        if isinstance(exc, raised):
            message = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)
            return _error_reply(status, kind, message)
    log.exception("unexpected agent error", exc_info=exc)
    return _error_reply(500, ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}")


def _error_reply(status: int, kind: ErrorKind, message: str) -> JSONResponse:
    return JSONResponse(AgentError(error=kind, message=message).model_dump(mode="json"), status_code=status)


def _handler(fn: Callable[[Request, AgentState], Any]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            result = await fn(request, request.app.state.agent)
        except Exception as exc:  # every failure becomes a typed reply, never a dropped connection
            return _error_response(exc)
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
            return json.dumps({"type": "error", **json.loads(_error_response(exc).body)})

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
        return _error_response(error)
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

