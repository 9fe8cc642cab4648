"""What one sandbox agent holds: where things live in its sandbox (`SandboxLayout`), and its sessions,
cell runs, interface workers and limits (`AgentState`), which the routes in `app` act on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seer_mcp.agent.cell_runs import CellRuns
from seer_mcp.agent.interfaces import InterfaceRegistry
from seer_mcp.agent.kernels import KernelSession, write_kernelspec
from seer_mcp.agent.limits import SelfLimits
from seer_mcp.agent.memory_guard import MemoryGuard
from seer_mcp.agent.notebooks import NotebookFile
from seer_mcp.agent.processes import DirectProcesses, Processes
from seer_mcp.agent.shell_session import ShellSession
from seer_mcp.limits import SESSION_SETUP_TIMEOUT_S
from seer_mcp.wire import KERNEL_CONNECTIONS_DIR, KERNEL_SOCKETS_DIR, SessionInfo, StartSessionRequest

log = logging.getLogger(__name__)


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
