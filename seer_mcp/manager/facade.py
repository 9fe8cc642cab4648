"""The registry of sandboxes and sessions, and the limits on them.

The manager does not know which backend it drives: a backend starts an agent
and returns its address; from then on every sandbox is reached the same way,
through a `SandboxAgentClient`. State lives in SQLite so that a restarted
server re-attaches to the sandboxes still alive and cleans up the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

from seer_mcp.manager.agent_client import ProgressHandler, SandboxAgentClient
from seer_mcp.backends import load_backend
from seer_mcp.backends.base import Backend, ProgressFn, StartRequest, no_progress
from seer_mcp.errors import InvalidRequest, NotFound, SandboxUnavailable, SeerError
from seer_mcp.manager.events import CellWatch, EventBus
from seer_mcp.fileio import write_atomically
from seer_mcp.models import ResolvedModel, model_info_code, model_info_text, preload_code
from seer_mcp.manager.interfaces import ServedInterfaces
from seer_mcp.settings import Settings
from seer_mcp.manager.snapshots import Snapshots
from seer_mcp.spec import SandboxSpec
from seer_mcp.manager.state import FAILED, RUNNING, TERMINATED, SandboxRecord, SessionRecord, StateStore
from seer_mcp.wire import CellResult, ExecResult, FileContent, FileEntry, FileList, NotebookPage, StartSessionRequest
from seer_mcp.workspace import PreparedWorkspace, WorkspaceSpec, prepare_workspace

log = logging.getLogger(__name__)

_MAX_REAPER_SLEEP_S = 3600.0


@dataclass
class LiveSandbox:
    record: SandboxRecord
    backend: Backend
    client: SandboxAgentClient
    agent_mirrors: bool
    in_flight: int = 0  # calls under way; an idle limit never cuts one short


class SandboxManager:
    """Owns every sandbox and session this server knows, and their limits."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        settings.state_dir.chmod(0o700)  # tokens live here
        self.store = StateStore(settings.database_path)
        self._backends: dict[str, Backend] = {}
        self._live: dict[str, LiveSandbox] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._wake = asyncio.Event()
        self._reaper: asyncio.Task[None] | None = None
        self.interfaces = ServedInterfaces(self)
        self.snapshots = Snapshots(self)
        # Watchers (the web UI) follow sandboxes, sessions and cells here; publishing never blocks.
        self.events = EventBus()

    # ----- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Re-attach to recorded sandboxes that are still alive; clean up the rest."""
        for record in self.store.sandboxes(status=RUNNING):
            await self._reattach(record)
        self._reaper = asyncio.create_task(self._reap_forever())

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for sandbox_id, live in list(self._live.items()):
            if self.settings.terminate_on_exit and live.record.backend == "local":
                await self.terminate_sandbox(sandbox_id, detail="server exited")
            else:
                await live.client.close()
        for backend in self._backends.values():
            await backend.close()
        self.store.close()
        self.events.close()  # ends open event streams, so an HTTP server can stop

    async def __aenter__(self) -> "SandboxManager":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def backend(self, name: str) -> Backend:
        if name not in self._backends:
            self._backends[name] = load_backend(name, self.settings)
        return self._backends[name]

    async def _reattach(self, record: SandboxRecord) -> None:
        try:
            backend = self.backend(record.backend)
        except SeerError as exc:
            self.store.set_status(record.sandbox_id, FAILED, f"cannot re-attach: {exc}")
            return
        now = time.time()
        alive = await backend.is_alive(record.handle)
        if alive and record.expires_at > now:
            client = SandboxAgentClient(backend.address(record.handle, record.handle["token"]))
            try:
                health = await client.health()
            except SeerError:
                await client.close()
            else:
                live = LiveSandbox(record, backend, client, record.handle.get("agent_mirrors", False))
                self._live[record.sandbox_id] = live
                running = {s.session_id for s in health.sessions}
                for session in self.store.sessions(record.sandbox_id):
                    if session.session_id in running:
                        self._sessions[session.session_id] = session
                    else:
                        self.store.delete_session(session.session_id)
                await self.interfaces.reattach(record.sandbox_id, client)
                log.info("re-attached to sandbox %s", record.sandbox_id)
                return
        reason = "expired while the server was down" if alive else "its agent died while the server was down"
        await backend.stop(record.handle)
        self.store.delete_sessions_of(record.sandbox_id)
        self.store.delete_interfaces_of(record.sandbox_id)
        self.store.set_status(record.sandbox_id, TERMINATED, reason)
        log.info("cleaned up sandbox %s: %s", record.sandbox_id, reason)

    # ----- sandboxes -------------------------------------------------------

    async def create_sandbox(self, spec: SandboxSpec, progress: ProgressFn = no_progress,
                             host_roots: list[Path] | None = None) -> dict[str, Any]:
        """Starts a sandbox. `host_roots` widens where workspace files may come from (an operator's config)."""
        self.backend(spec.backend)  # an unknown backend fails before any host file is read
        # Host paths are checked and read before anything starts: a bad one costs nothing.
        roots = self.settings.allowed_host_roots + (host_roots or [])
        workspace = await asyncio.to_thread(prepare_workspace, spec.workspace, roots)
        return await self.launch(spec, workspace, progress)

    async def launch(self, spec: SandboxSpec, workspace: PreparedWorkspace, progress: ProgressFn = no_progress,
                     restore: dict[str, Any] | None = None) -> dict[str, Any]:
        """Starts a sandbox with a prepared workspace, or from a snapshot's saved state (`restore`)."""
        backend = self.backend(spec.backend)
        sandbox_id = f"sb-{secrets.token_hex(4)}"
        token = secrets.token_urlsafe(32)
        outputs = self.settings.outputs_dir / (f"{spec.name}-{sandbox_id}" if spec.name else sandbox_id)
        outputs.mkdir(parents=True, exist_ok=True)
        await progress(0, 3, f"starting {spec.backend} sandbox {sandbox_id}")
        idle_timeout = spec.idle_timeout or self.settings.idle_timeout
        expires_at = time.time() + min(spec.timeout, self.settings.max_lifetime)
        try:
            started = await backend.start(StartRequest(sandbox_id, spec, token, outputs, progress, restore,
                                                       idle_timeout=idle_timeout, expires_at=expires_at))
        except BaseException:
            with contextlib.suppress(OSError):
                outputs.rmdir()  # only if nothing was written there
            raise
        handle = {**started.handle, "token": token, "socket": started.address.socket_path,
                  "url": started.address.url, "agent_mirrors": started.agent_mirrors_notebooks,
                  "models": started.models,
                  "workspace": {"modules": workspace.modules, "docs": workspace.docs, "skills": workspace.skills}}
        now = time.time()
        record = SandboxRecord(
            sandbox_id=sandbox_id, name=spec.name, backend=spec.backend, status=RUNNING,
            spec=spec.model_dump(), handle=handle, workspace_path=started.workspace_path,
            outputs_path=str(outputs), created_at=now, last_active=now,
            expires_at=expires_at, idle_timeout=idle_timeout,
        )
        self.store.put_sandbox(record)
        client = SandboxAgentClient(started.address)
        self._live[sandbox_id] = LiveSandbox(record, backend, client, started.agent_mirrors_notebooks)
        self._wake.set()
        try:
            for upload in workspace.uploads:
                await client.upload(upload.sandbox_path, upload.data)
        except BaseException:
            await self.terminate_sandbox(sandbox_id, detail="placing the workspace failed")
            raise
        await progress(3, 3, f"sandbox {sandbox_id} is ready")
        self.events.publish({"type": "sandbox_created", "sandbox_id": sandbox_id})
        return {**record.public(), "models": [ResolvedModel.from_record(m).public() for m in started.models],
                **({"debug_url": handle["debug_url"]} if handle.get("debug_url") else {})}

    def list_sandboxes(self, include_ended: bool = False) -> list[dict[str, Any]]:
        records = self.store.sandboxes() if include_ended else [live.record for live in self._live.values()]
        out = []
        for record in records:
            info = record.public()
            info["sessions"] = [s.session_id for s in self._sessions.values() if s.sandbox_id == record.sandbox_id]
            out.append(info)
        return out

    async def terminate_sandbox(self, sandbox_id: str, detail: str = "terminated on request") -> dict[str, Any]:
        live = self._live.pop(sandbox_id, None)
        if live is None:
            record = self.store.sandbox(sandbox_id)
            if record is None:
                raise NotFound(f"no sandbox {sandbox_id!r}; list_sandboxes shows the ones that exist")
            if record.status == RUNNING:  # recorded by another server process: stop it all the same
                await self.backend(record.backend).stop(record.handle)
                self.store.delete_interfaces_of(sandbox_id)
                self.store.set_status(sandbox_id, TERMINATED, detail)
                self.events.publish({"type": "sandbox_terminated", "sandbox_id": sandbox_id, "detail": detail})
            return {"sandbox_id": sandbox_id, "status": TERMINATED}
        with contextlib.suppress(SeerError):
            await live.client.shutdown()
        await live.client.close()
        await live.backend.stop(live.record.handle)
        self._forget(sandbox_id)
        self.store.set_status(sandbox_id, TERMINATED, detail)
        self.events.publish({"type": "sandbox_terminated", "sandbox_id": sandbox_id, "detail": detail})
        return {"sandbox_id": sandbox_id, "status": TERMINATED, "outputs_path": live.record.outputs_path}

    def sandbox(self, sandbox_id: str | None) -> LiveSandbox:
        if sandbox_id is None:
            if len(self._live) == 1:
                return next(iter(self._live.values()))
            if not self._live:
                raise NotFound("there is no sandbox yet; call create_sandbox first")
            raise InvalidRequest(f"{len(self._live)} sandboxes are running ({', '.join(self._live)}); "
                                 "pass sandbox_id")
        live = self._live.get(sandbox_id)
        if live is None:
            record = self.store.sandbox(sandbox_id)
            if record is not None:
                raise NotFound(f"sandbox {sandbox_id!r} is {record.status}"
                               + (f" ({record.detail})" if record.detail else "") + "; create a new one")
            raise NotFound(f"no sandbox {sandbox_id!r}; list_sandboxes shows the ones that exist")
        return live

    @contextlib.asynccontextmanager
    async def using(self, live: LiveSandbox) -> AsyncIterator[SandboxAgentClient]:
        """Marks activity, and turns a vanished agent into a failed sandbox."""
        live.record.last_active = time.time()
        live.in_flight += 1
        try:
            yield live.client
        except SandboxUnavailable as exc:
            if await self._answers(live):
                raise
            detail = f"its agent stopped ({exc})"
            self._live.pop(live.record.sandbox_id, None)
            await live.client.close()
            await live.backend.stop(live.record.handle)
            self._forget(live.record.sandbox_id)
            self.store.set_status(live.record.sandbox_id, FAILED, detail)
            self.events.publish({"type": "sandbox_terminated", "sandbox_id": live.record.sandbox_id,
                                 "status": FAILED, "detail": detail})
            raise SandboxUnavailable(
                f"sandbox {live.record.sandbox_id} has failed: {detail}. Its notebooks are kept in "
                f"{live.record.outputs_path}; create a new sandbox to go on.") from exc
        finally:
            live.in_flight -= 1
            self._touch(live)
            if live.record.idle_timeout:
                self._wake.set()  # its idle deadline moved

    def _forget(self, sandbox_id: str) -> None:
        """Drops the sessions and interfaces of a sandbox that is gone."""
        for session_id in [s for s, rec in self._sessions.items() if rec.sandbox_id == sandbox_id]:
            del self._sessions[session_id]
            self.events.publish({"type": "session_ended", "session_id": session_id, "sandbox_id": sandbox_id})
        self.store.delete_sessions_of(sandbox_id)
        self.interfaces.forget_sandbox(sandbox_id)

    async def _answers(self, live: LiveSandbox) -> bool:
        if not await live.backend.is_alive(live.record.handle):
            return False
        try:
            await live.client.health(timeout=3.0)
        except SeerError:
            return False
        return True

    def _touch(self, live: LiveSandbox) -> None:
        live.record.last_active = time.time()
        self.store.touch(live.record.sandbox_id, live.record.last_active)

    # ----- sessions --------------------------------------------------------

    async def start_session(self, sandbox_id: str | None, name: str | None = None, kind: str = "notebook",
                            workspace: PreparedWorkspace | None = None,
                            workspace_spec: WorkspaceSpec | None = None) -> dict[str, Any]:
        """Starts a session; `workspace` adds a session's own libraries, files and set-up code (the API's)."""
        live = self.sandbox(sandbox_id)
        session_id = f"ses-{secrets.token_hex(6)}"
        if kind not in ("notebook", "cli"):
            raise InvalidRequest(f"session kind must be 'notebook' or 'cli', not {kind!r}")
        if workspace is not None:
            async with self.using(live) as client:
                for upload in workspace.uploads:
                    await client.upload(upload.sandbox_path, upload.data)
        if kind == "cli":
            return await self._start_shell(live, session_id, name)
        spec = SandboxSpec.model_validate(live.record.spec)
        own = workspace_spec or spec.workspace
        models = [ResolvedModel.from_record(m) for m in live.record.handle.get("models", [])]
        preloaded = [m for m in models if m.spec.preload] if own.preload_models else []
        sandbox_workspace = live.record.handle.get("workspace", {})
        modules = sandbox_workspace.get("modules", []) + (workspace.modules if workspace else [])
        custom = "\n".join(code for code in (spec.workspace.custom_init_code,
                                              workspace_spec.custom_init_code if workspace_spec else None) if code)
        request = StartSessionRequest(
            name=name, session_id=session_id,
            model_code=preload_code(preloaded) if preloaded else None,
            show_model_code=not own.hidden_model_loading,
            init_code=PreparedWorkspace(modules=modules).init_code(live.record.workspace_path, custom or None),
            info_code=model_info_code(preloaded) if preloaded else None,
        )
        async with self.using(live) as client:
            info = await client.start_session(request)
        mirror = info.mirror_path or str(Path(live.record.outputs_path) / Path(info.notebook_path).name)
        docs = "\n\n".join(d for d in (sandbox_workspace.get("docs", ""), workspace.docs if workspace else "") if d)
        record = SessionRecord(session_id=session_id, sandbox_id=live.record.sandbox_id, name=info.name,
                               kind="notebook", notebook_path=info.notebook_path, mirror_path=mirror,
                               model_info=model_info_text(json.loads(info.init_output)) if preloaded else "",
                               library_docs=docs)
        self._sessions[session_id] = record
        self.store.put_session(record)
        self.events.publish({"type": "session_started", "session_id": session_id, "sandbox_id": record.sandbox_id})
        return self.describe_session(record)

    async def _start_shell(self, live: LiveSandbox, session_id: str, name: str | None) -> dict[str, Any]:
        async with self.using(live) as client:
            info = await client.start_session(StartSessionRequest(name=name, session_id=session_id, kind="cli"))
        mirror = info.mirror_path or str(Path(live.record.outputs_path) / Path(info.notebook_path).name)
        record = SessionRecord(session_id=session_id, sandbox_id=live.record.sandbox_id, name=info.name, kind="cli",
                               notebook_path=info.notebook_path, mirror_path=mirror)
        self._sessions[session_id] = record
        self.store.put_session(record)
        self.events.publish({"type": "session_started", "session_id": session_id, "sandbox_id": record.sandbox_id})
        return self.describe_session(record)

    def describe_session(self, record: SessionRecord) -> dict[str, Any]:
        live = self._live[record.sandbox_id]
        path = str(Path(live.record.workspace_path) / record.notebook_path)
        if record.kind == "cli":
            return {"session_id": record.session_id, "sandbox_id": record.sandbox_id, "name": record.name,
                    "kind": "cli", "transcript_path": path, "transcript_copy": record.mirror_path}
        return {
            "session_id": record.session_id, "sandbox_id": record.sandbox_id, "name": record.name,
            "kind": "notebook", "notebook_path": path, "notebook_copy": record.mirror_path,
            "model_info": record.model_info,
            "library_docs": record.library_docs or self.library_docs(record.sandbox_id),
        }

    def library_docs(self, sandbox_id: str | None) -> str:
        """The docs of a sandbox's workspace libraries and skills, as the agent is given them."""
        return self.sandbox(sandbox_id).record.handle.get("workspace", {}).get("docs", "")

    def session(self, session_id: str | None) -> tuple[SessionRecord, LiveSandbox]:
        if session_id is None:
            if len(self._sessions) == 1:
                record = next(iter(self._sessions.values()))
            elif not self._sessions:
                raise NotFound("there is no session yet; call start_session first")
            else:
                raise InvalidRequest(f"{len(self._sessions)} sessions are open ({', '.join(self._sessions)}); "
                                     "pass session_id")
        else:
            record = self._sessions.get(session_id)
            if record is None:
                raise NotFound(f"no session {session_id!r}; list_sandboxes shows each sandbox's sessions")
        return record, self.sandbox(record.sandbox_id)

    def sessions_of(self, sandbox_id: str) -> list[SessionRecord]:
        return [s for s in self._sessions.values() if s.sandbox_id == sandbox_id]

    def list_sessions(self) -> list[dict[str, Any]]:
        return [self.describe_session(s) for s in self._sessions.values()]

    async def end_session(self, session_id: str | None) -> dict[str, Any]:
        record, live = self.session(session_id)
        async with self.using(live) as client:
            await client.end_session(record.session_id)
        del self._sessions[record.session_id]
        self.store.delete_session(record.session_id)
        self.events.publish({"type": "session_ended", "session_id": record.session_id, "sandbox_id": record.sandbox_id})
        return {"session_id": record.session_id, "ended": True, "notebook_copy": record.mirror_path}

    async def execute(self, session_id: str | None, code: str, timeout: float | None = None,
                      on_progress: ProgressHandler | None = None,
                      wait: float | None = None) -> tuple[CellResult, SessionRecord]:
        """Runs a cell. With a `wait`, a cell still running after it comes back as "running" and goes on."""
        record, live = self.session(session_id)
        async with self.using(live) as client:
            with CellWatch(self.events, record.session_id, record.sandbox_id, code, None, on_progress) as watch:
                result = await client.execute(record.session_id, code, timeout or self.settings.cell_timeout,
                                              watch.progress, wait)
                await self._mirror(live, record, result)
                watch.result = result
        return result, record

    async def edit_cell(self, session_id: str | None, cell_index: int, code: str, timeout: float | None = None,
                        on_progress: ProgressHandler | None = None,
                        wait: float | None = None) -> tuple[CellResult, SessionRecord]:
        record, live = self.session(session_id)
        async with self.using(live) as client:
            with CellWatch(self.events, record.session_id, record.sandbox_id, code, cell_index, on_progress) as watch:
                result = await client.edit_cell(record.session_id, cell_index, code,
                                                timeout or self.settings.cell_timeout, watch.progress, wait)
                await self._mirror(live, record, result)
                watch.result = result
        return result, record

    async def wait_cell(self, session_id: str | None, wait: float,
                        on_progress: ProgressHandler | None = None) -> tuple[CellResult, SessionRecord]:
        """Waits up to `wait` for the session's cell that came back "running"; only output not shown yet."""
        record, live = self.session(session_id)
        async with self.using(live) as client:
            with CellWatch(self.events, record.session_id, record.sandbox_id, None, None, on_progress) as watch:
                result = await client.wait_cell(record.session_id, wait, watch.progress)
                await self._mirror(live, record, result)
                watch.result = result
        return result, record

    async def add_markdown(self, session_id: str | None, content: str) -> dict[str, Any]:
        record, live = self.session(session_id)
        async with self.using(live) as client:
            result = await client.add_markdown(record.session_id, content)
            await self._mirror(live, record)
        self.events.publish({"type": "markdown_added", "session_id": record.session_id,
                             "sandbox_id": record.sandbox_id, "cell_index": result.cell_index})
        return {"cell_index": result.cell_index, "session_id": record.session_id}

    async def interrupt(self, session_id: str | None) -> dict[str, Any]:
        record, live = self.session(session_id)
        async with self.using(live) as client:
            info = await client.interrupt(record.session_id)
        self.events.publish({"type": "kernel_interrupted", "session_id": record.session_id,
                             "sandbox_id": record.sandbox_id})
        return {"session_id": record.session_id, "kernel_status": info.kernel_status}

    async def restart(self, session_id: str | None) -> dict[str, Any]:
        record, live = self.session(session_id)
        async with self.using(live) as client:
            info = await client.restart(record.session_id)
        self.events.publish({"type": "kernel_restarted", "session_id": record.session_id,
                             "sandbox_id": record.sandbox_id})
        return {"session_id": record.session_id, "kernel_status": info.kernel_status,
                "message": "fresh kernel: variables are gone, the notebook keeps every earlier cell"}

    async def read_notebook(self, session_id: str | None, start: int, limit: int) -> NotebookPage:
        record, live = self.session(session_id)
        async with self.using(live) as client:
            return await client.notebook_page(record.session_id, start, limit)

    async def notebook_bytes(self, session_id: str) -> bytes:
        """The session's .ipynb (a cli session's transcript), for a watcher.

        Not `using`: a person watching a notebook is not activity, and must not keep an
        idle sandbox from its idle limit.
        """
        record, live = self.session(session_id)
        return await live.client.notebook_bytes(record.session_id)

    async def _mirror(self, live: LiveSandbox, record: SessionRecord, result: CellResult | None = None) -> None:
        if live.agent_mirrors or record.mirror_path is None or (result is not None and result.status == "running"):
            return
        data = await live.client.notebook_bytes(record.session_id)
        await asyncio.to_thread(write_atomically, Path(record.mirror_path), data)

    # ----- shell and files -------------------------------------------------

    async def exec(self, sandbox_id: str | None, command: str, timeout: float) -> ExecResult:
        async with self.using(self.sandbox(sandbox_id)) as client:
            return await client.exec(command, timeout)

    async def read_file(self, sandbox_id: str | None, path: str) -> FileContent:
        async with self.using(self.sandbox(sandbox_id)) as client:
            return await client.read_file(path)

    async def write_file(self, sandbox_id: str | None, path: str, content: str) -> FileEntry:
        async with self.using(self.sandbox(sandbox_id)) as client:
            return await client.write_file(path, content)

    async def list_files(self, sandbox_id: str | None, path: str) -> FileList:
        async with self.using(self.sandbox(sandbox_id)) as client:
            return await client.list_files(path)

    # ----- limits ----------------------------------------------------------

    def _deadline(self, live: LiveSandbox) -> tuple[float, str]:
        record = live.record
        idle = record.idle_deadline() if live.in_flight == 0 else None
        if idle is not None and idle < record.expires_at:
            return idle, f"idle for {record.idle_timeout:g}s"
        return record.expires_at, "reached its lifetime limit"

    async def _catch_up_on_activity(self, live: LiveSandbox) -> None:
        """Before an idle sandbox is terminated: what the server cannot see, a cell that runs on after its
        caller stopped waiting (activity now) or one that ended since (activity then), counts too."""
        try:
            health = await live.client.health(timeout=3.0)
        except SeerError:
            return
        if health.cells_running:
            self._touch(live)
        elif health.last_active and health.last_active > live.record.last_active:
            live.record.last_active = health.last_active
            self.store.touch(live.record.sandbox_id, health.last_active)

    async def _reap_forever(self) -> None:
        while True:
            now = time.time()
            next_due = now + _MAX_REAPER_SLEEP_S
            for sandbox_id, live in list(self._live.items()):
                due, reason = self._deadline(live)
                if due <= now and due < live.record.expires_at:
                    await self._catch_up_on_activity(live)
                    due = live.record.idle_deadline() or due
                if due <= now:
                    log.info("terminating sandbox %s: %s", sandbox_id, reason)
                    with contextlib.suppress(SeerError):
                        await self.terminate_sandbox(sandbox_id, detail=reason)
                else:
                    next_due = min(next_due, due)
            self._wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 a cancel that lands as wait_for times out turns
            # into a TimeoutError, so close() would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.05, next_due - time.time())):
                    await self._wake.wait()
