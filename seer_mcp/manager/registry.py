"""The registry of sandboxes and their sessions, and the limits on them.

It does not know which backend it drives: a backend starts an agent and
returns its address; from then on every sandbox is reached the same way,
through a `SandboxAgentClient`. State lives in SQLite so that a restarted
server re-attaches to the sandboxes still alive and cleans up the rest.

It knows nothing of interfaces or snapshots either: whatever keeps state per
sandbox hooks into its lifecycle (`add_hook`) and is told when a sandbox is
re-attached and when one is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Protocol

from seer_mcp.backends import load_backend
from seer_mcp.backends.base import Backend, StartRequest
from seer_mcp.errors import InvalidRequest, NotFound, SandboxUnavailable, SeerError
from seer_mcp.manager.agent_client import SandboxAgentClient
from seer_mcp.manager.events import EventBus
from seer_mcp.manager.state import FAILED, RUNNING, TERMINATED, SandboxRecord, SessionRecord, StateStore
from seer_mcp.manager.warm_pool import WarmPool
from seer_mcp.models import ResolvedModel
from seer_mcp.progress import StepProgress, no_progress
from seer_mcp.settings import Settings
from seer_mcp.spec import SandboxSpec
from seer_mcp.workspace import PreparedWorkspace, prepare_workspace

log = logging.getLogger(__name__)

@dataclass
class LiveSandbox:
    record: SandboxRecord
    backend: Backend
    client: SandboxAgentClient
    agent_mirrors: bool
    in_flight: int = 0  # calls under way; an idle limit never cuts one short


class SandboxHook(Protocol):
    """What keeps state per sandbox (the served interfaces) and must follow sandboxes coming and going."""

    async def sandbox_reattached(self, sandbox_id: str, client: SandboxAgentClient) -> None:
        """After a server restart, the sandbox is alive again: take back what it still runs."""

    def sandbox_gone(self, sandbox_id: str) -> None:
        """The sandbox ended (terminated, expired or failed): forget what belonged to it."""


class SandboxRegistry:
    """Owns every sandbox and session this server knows, and their limits."""

    def __init__(self, settings: Settings, events: EventBus) -> None:
        self.settings = settings
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        settings.state_dir.chmod(0o700)  # tokens live here
        self.store = StateStore(settings.database_path)
        self.events = events
        self._backends: dict[str, Backend] = {}
        self._live: dict[str, LiveSandbox] = {}
        # Sandboxes being stopped (out of _live, still "running" in the store until they are down): why.
        self._ending: dict[str, str] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._hooks: list[SandboxHook] = []
        # Warm-pool sandboxes not handed out yet: in _live (limits and reaping apply), shown to no one.
        self._pooled: set[str] = set()
        self.pool = WarmPool(self, settings.warm_sandboxes)
        self._hooks.append(self.pool)
        # Set whenever a deadline may have moved (a sandbox came, went idle or busy); the reaper waits on it.
        self.deadlines_changed = asyncio.Event()

    def add_hook(self, hook: SandboxHook) -> None:
        self._hooks.append(hook)

    # ----- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Re-attach to recorded sandboxes that are still alive; clean up the rest."""
        for record in self.store.sandboxes(status=RUNNING):
            await self._reattach(record)
        self.pool.start()

    async def close(self) -> None:
        await self.pool.close()
        for sandbox_id, live in list(self._live.items()):
            if self.settings.terminate_on_exit and live.backend.capabilities.on_server_host:
                await self.terminate_sandbox(sandbox_id, detail="server exited")
            else:
                await live.client.close()
        for backend in self._backends.values():
            await backend.close()
        self.store.close()

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
        if record.handle.get("warm_pool"):  # an earlier server's pool, never handed out: it is no one's
            alive = False
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
                for hook in self._hooks:
                    await hook.sandbox_reattached(record.sandbox_id, client)
                log.info("re-attached to sandbox %s", record.sandbox_id)
                return
        reason = ("a warm-pool sandbox of an earlier server" if record.handle.get("warm_pool") else
                  "expired while the server was down" if alive else "its agent died while the server was down")
        await backend.stop(record.handle)
        self.store.delete_sessions_of(record.sandbox_id)
        self._tell_gone(record.sandbox_id)
        self.store.set_status(record.sandbox_id, TERMINATED, reason)
        log.info("cleaned up sandbox %s: %s", record.sandbox_id, reason)

    # ----- sandboxes -------------------------------------------------------

    async def create_sandbox(self, spec: SandboxSpec, progress: StepProgress = no_progress,
                             host_roots: list[Path] | None = None) -> dict[str, Any]:
        """Starts a sandbox. `host_roots` widens where workspace files may come from (an operator's config)."""
        self.backend(spec.backend)  # an unknown backend fails before any host file is read
        claimed = await self.pool.claim(spec)
        if claimed is not None:
            await progress(3, 3, f"sandbox {claimed['sandbox_id']} is ready (from the warm pool)")
            return claimed
        # Host paths are checked and read before anything starts: a bad one costs nothing.
        roots = self.settings.allowed_host_roots + (host_roots or [])
        workspace = await asyncio.to_thread(prepare_workspace, spec.workspace, roots)
        return await self.launch(spec, workspace, progress)

    async def launch(self, spec: SandboxSpec, workspace: PreparedWorkspace, progress: StepProgress = no_progress,
                     restore: dict[str, Any] | None = None, pooled: bool = False) -> dict[str, Any]:
        """Starts a sandbox with a prepared workspace, or from a snapshot's saved state (`restore`);
        `pooled`: for the warm pool, shown to no one until `adopt`."""
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
                  "workspace": {"modules": workspace.modules, "docs": workspace.docs, "skills": workspace.skills},
                  **({"warm_pool": True} if pooled else {})}
        now = time.time()
        record = SandboxRecord(
            sandbox_id=sandbox_id, name=spec.name, backend=spec.backend, status=RUNNING,
            spec=spec.model_dump(), handle=handle, workspace_path=started.workspace_path,
            outputs_path=str(outputs), created_at=now, last_active=now,
            expires_at=expires_at, idle_timeout=idle_timeout,
        )
        self.store.put_sandbox(record)
        client = SandboxAgentClient(started.address)
        if pooled:
            self._pooled.add(sandbox_id)
        self._live[sandbox_id] = LiveSandbox(record, backend, client, started.agent_mirrors_notebooks)
        self.deadlines_changed.set()
        try:
            for upload in workspace.uploads:
                await client.upload(upload.sandbox_path, upload.data)
        except BaseException:
            await self.terminate_sandbox(sandbox_id, detail="placing the workspace failed")
            raise
        await progress(3, 3, f"sandbox {sandbox_id} is ready")
        if not pooled:
            self.events.publish({"type": "sandbox_created", "sandbox_id": sandbox_id})
        return {**record.public(), "models": [ResolvedModel.from_record(m).public() for m in started.models],
                **({"debug_url": handle["debug_url"]} if handle.get("debug_url") else {})}

    def pooled_sandbox(self, sandbox_id: str) -> LiveSandbox | None:
        """A warm-pool sandbox not handed out yet (None if it is gone)."""
        return self._live.get(sandbox_id) if sandbox_id in self._pooled else None

    def adopt(self, live: LiveSandbox, spec: SandboxSpec, expires_at: float) -> dict[str, Any]:
        """A warm-pool sandbox becomes `spec`'s: its name, a lifetime from now, seen by everyone."""
        record = live.record
        self._pooled.discard(record.sandbox_id)
        record.name, record.spec, record.expires_at = spec.name, spec.model_dump(), expires_at
        record.handle = {k: v for k, v in record.handle.items() if k != "warm_pool"}
        self.touch(live)
        self.store.put_sandbox(record)
        self.deadlines_changed.set()
        self.events.publish({"type": "sandbox_created", "sandbox_id": record.sandbox_id})
        return {**record.public(), "models": []}

    def _visible(self) -> dict[str, LiveSandbox]:
        if not self._pooled:
            return self._live
        return {sandbox_id: live for sandbox_id, live in self._live.items() if sandbox_id not in self._pooled}

    def list_sandboxes(self, include_ended: bool = False) -> list[dict[str, Any]]:
        records = self.store.sandboxes() if include_ended else [live.record for live in self._live.values()]
        out = []
        for record in records:
            if record.sandbox_id in self._pooled:  # the warm pool's, not handed out: nobody's yet
                continue
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
                self._tell_gone(sandbox_id)
                self.store.set_status(sandbox_id, TERMINATED, detail)
                self.events.publish({"type": "sandbox_terminated", "sandbox_id": sandbox_id, "detail": detail})
            return {"sandbox_id": sandbox_id, "status": TERMINATED}
        self._ending[sandbox_id] = detail
        try:
            with contextlib.suppress(SeerError):
                await live.client.shutdown()
            await live.client.close()
            await live.backend.stop(live.record.handle)
            self._forget(sandbox_id)
            self.store.set_status(sandbox_id, TERMINATED, detail)
        finally:
            self._ending.pop(sandbox_id, None)
        self.events.publish({"type": "sandbox_terminated", "sandbox_id": sandbox_id, "detail": detail})
        return {"sandbox_id": sandbox_id, "status": TERMINATED, "outputs_path": live.record.outputs_path}

    def sandbox(self, sandbox_id: str | None) -> LiveSandbox:
        visible = self._visible()
        if sandbox_id is None:
            if len(visible) == 1:
                return next(iter(visible.values()))
            if not visible:
                raise NotFound("there is no sandbox yet; call create_sandbox first")
            raise InvalidRequest(f"{len(visible)} sandboxes are running ({', '.join(visible)}); "
                                 "pass sandbox_id")
        live = visible.get(sandbox_id)
        if live is None and sandbox_id in self._pooled:
            raise NotFound(f"no sandbox {sandbox_id!r}; list_sandboxes shows the ones that exist")
        if live is None and sandbox_id in self._ending:
            raise NotFound(f"sandbox {sandbox_id!r} is being terminated ({self._ending[sandbox_id]}); "
                           "create a new one")
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
            self.touch(live)
            if live.record.idle_timeout:
                self.deadlines_changed.set()  # its idle deadline moved

    def _forget(self, sandbox_id: str) -> None:
        """Drops the sessions of a sandbox that is gone, and tells the hooks."""
        for session_id in [s for s, rec in self._sessions.items() if rec.sandbox_id == sandbox_id]:
            del self._sessions[session_id]
            self.events.publish({"type": "session_ended", "session_id": session_id, "sandbox_id": sandbox_id})
        self.store.delete_sessions_of(sandbox_id)
        self._tell_gone(sandbox_id)

    def _tell_gone(self, sandbox_id: str) -> None:
        self._pooled.discard(sandbox_id)
        for hook in self._hooks:
            hook.sandbox_gone(sandbox_id)

    async def _answers(self, live: LiveSandbox) -> bool:
        if not await live.backend.is_alive(live.record.handle):
            return False
        try:
            await live.client.health(timeout=3.0)
        except SeerError:
            return False
        return True

    def live(self) -> list[LiveSandbox]:
        return list(self._live.values())

    def touch(self, live: LiveSandbox, when: float | None = None) -> None:
        """Activity in `live` (now, or at `when`), recorded for its idle limit."""
        live.record.last_active = time.time() if when is None else when
        self.store.touch(live.record.sandbox_id, live.record.last_active)


    # ----- session records -------------------------------------------------

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

    def sessions(self) -> list[SessionRecord]:
        return list(self._sessions.values())

    def sessions_of(self, sandbox_id: str) -> list[SessionRecord]:
        return [s for s in self._sessions.values() if s.sandbox_id == sandbox_id]

    def add_session(self, record: SessionRecord) -> None:
        self._sessions[record.session_id] = record
        self.store.put_session(record)
        self.events.publish({"type": "session_started", "session_id": record.session_id,
                             "sandbox_id": record.sandbox_id})

    def remove_session(self, record: SessionRecord) -> None:
        del self._sessions[record.session_id]
        self.store.delete_session(record.session_id)
        self.events.publish({"type": "session_ended", "session_id": record.session_id,
                             "sandbox_id": record.sandbox_id})
