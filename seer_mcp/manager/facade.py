"""`SandboxManager`: the one object the MCP tools, the web UI and the Python API hold.

It builds the manager's parts and wires them together; each method hands the
call to the part that owns it:

- `SandboxRegistry` (registry.py): sandboxes and session records, re-attach after a restart;
  `SandboxReaper` (reaper.py) ends them at their limits;
- `Sessions` (sessions.py) and `Cells` (cells.py): starting sessions, and what runs in them;
- `SandboxFiles` (files.py): shell commands and workspace files;
- `ServedInterfaces` (interfaces.py) and `Snapshots` (snapshots.py), reached as attributes. Interfaces
  follow sandboxes through the registry's lifecycle hooks; the registry knows nothing of either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncContextManager

from seer_mcp.backends.base import Backend
from seer_mcp.manager.agent_client import SandboxAgentClient
from seer_mcp.manager.cells import Cells
from seer_mcp.manager.events import EventBus
from seer_mcp.manager.files import SandboxFiles
from seer_mcp.manager.interfaces import ServedInterfaces
from seer_mcp.manager.reaper import SandboxReaper
from seer_mcp.manager.registry import LiveSandbox, SandboxRegistry
from seer_mcp.manager.sessions import Sessions
from seer_mcp.manager.snapshots import Snapshots
from seer_mcp.manager.state import SessionRecord, StateStore
from seer_mcp.progress import CellProgressHandler, StepProgress, no_progress
from seer_mcp.settings import Settings
from seer_mcp.spec import SandboxSpec
from seer_mcp.wire import CellResult, ExecResult, FileContent, FileEntry, FileList, NotebookPage
from seer_mcp.workspace import PreparedWorkspace, WorkspaceSpec

__all__ = ["LiveSandbox", "SandboxManager"]


class SandboxManager:
    """Owns every sandbox and session this server knows, and their limits."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Watchers (the web UI) follow sandboxes, sessions and cells here; publishing never blocks.
        self.events = EventBus()
        self._registry = SandboxRegistry(settings, self.events)
        self._reaper = SandboxReaper(self._registry)
        self._sessions = Sessions(self._registry)
        self._cells = Cells(self._registry, self.events, settings)
        self._files = SandboxFiles(self._registry)
        self.interfaces = ServedInterfaces(self._registry)
        self._registry.add_hook(self.interfaces)
        self.snapshots = Snapshots(self._registry, self._sessions, self._cells)

    @property
    def store(self) -> StateStore:
        return self._registry.store

    # ----- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Re-attach to recorded sandboxes that are still alive; clean up the rest."""
        await self._registry.start()
        self._reaper.start()

    async def close(self) -> None:
        await self._reaper.stop()
        await self._registry.close()
        self.events.close()  # ends open event streams, so an HTTP server can stop

    async def __aenter__(self) -> "SandboxManager":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ----- sandboxes (the registry) -----------------------------------------

    def backend(self, name: str) -> Backend:
        return self._registry.backend(name)

    async def create_sandbox(self, spec: SandboxSpec, progress: StepProgress = no_progress,
                             host_roots: list[Path] | None = None) -> dict[str, Any]:
        return await self._registry.create_sandbox(spec, progress, host_roots)

    async def launch(self, spec: SandboxSpec, workspace: PreparedWorkspace, progress: StepProgress = no_progress,
                     restore: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._registry.launch(spec, workspace, progress, restore)

    def list_sandboxes(self, include_ended: bool = False) -> list[dict[str, Any]]:
        return self._registry.list_sandboxes(include_ended)

    async def terminate_sandbox(self, sandbox_id: str, detail: str = "terminated on request") -> dict[str, Any]:
        return await self._registry.terminate_sandbox(sandbox_id, detail)

    def sandbox(self, sandbox_id: str | None) -> LiveSandbox:
        return self._registry.sandbox(sandbox_id)

    def using(self, live: LiveSandbox) -> AsyncContextManager[SandboxAgentClient]:
        return self._registry.using(live)

    def session(self, session_id: str | None) -> tuple[SessionRecord, LiveSandbox]:
        return self._registry.session(session_id)

    def sessions_of(self, sandbox_id: str) -> list[SessionRecord]:
        return self._registry.sessions_of(sandbox_id)

    # ----- sessions ----------------------------------------------------------

    async def start_session(self, sandbox_id: str | None, name: str | None = None, kind: str = "notebook",
                            workspace: PreparedWorkspace | None = None,
                            workspace_spec: WorkspaceSpec | None = None) -> dict[str, Any]:
        return await self._sessions.start(sandbox_id, name, kind, workspace, workspace_spec)

    def describe_session(self, record: SessionRecord) -> dict[str, Any]:
        return self._sessions.describe(record)

    def library_docs(self, sandbox_id: str | None) -> str:
        return self._sessions.library_docs(sandbox_id)

    def list_sessions(self) -> list[dict[str, Any]]:
        return self._sessions.list()

    async def end_session(self, session_id: str | None) -> dict[str, Any]:
        return await self._sessions.end(session_id)

    # ----- cells ---------------------------------------------------------------

    async def execute(self, session_id: str | None, code: str, timeout: float | None = None,
                      on_progress: CellProgressHandler | None = None,
                      wait: float | None = None) -> tuple[CellResult, SessionRecord]:
        return await self._cells.execute(session_id, code, timeout, on_progress, wait)

    async def edit_cell(self, session_id: str | None, cell_index: int, code: str, timeout: float | None = None,
                        on_progress: CellProgressHandler | None = None,
                        wait: float | None = None) -> tuple[CellResult, SessionRecord]:
        return await self._cells.edit_cell(session_id, cell_index, code, timeout, on_progress, wait)

    async def wait_cell(self, session_id: str | None, wait: float,
                        on_progress: CellProgressHandler | None = None) -> tuple[CellResult, SessionRecord]:
        return await self._cells.wait_cell(session_id, wait, on_progress)

    async def add_markdown(self, session_id: str | None, content: str) -> dict[str, Any]:
        return await self._cells.add_markdown(session_id, content)

    async def interrupt(self, session_id: str | None) -> dict[str, Any]:
        return await self._cells.interrupt(session_id)

    async def restart(self, session_id: str | None) -> dict[str, Any]:
        return await self._cells.restart(session_id)

    async def read_notebook(self, session_id: str | None, start: int, limit: int) -> NotebookPage:
        return await self._cells.read_notebook(session_id, start, limit)

    async def notebook_bytes(self, session_id: str) -> bytes:
        return await self._cells.notebook_bytes(session_id)

    # ----- shell and files -------------------------------------------------

    async def exec(self, sandbox_id: str | None, command: str, timeout: float) -> ExecResult:
        return await self._files.exec(sandbox_id, command, timeout)

    async def read_file(self, sandbox_id: str | None, path: str) -> FileContent:
        return await self._files.read_file(sandbox_id, path)

    async def write_file(self, sandbox_id: str | None, path: str, content: str) -> FileEntry:
        return await self._files.write_file(sandbox_id, path, content)

    async def list_files(self, sandbox_id: str | None, path: str) -> FileList:
        return await self._files.list_files(sandbox_id, path)
