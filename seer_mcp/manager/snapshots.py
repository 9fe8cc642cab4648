"""Snapshots: a sandbox's files saved, and later started again, optionally with its kernels' state.

The backend saves what it can (locally a copy of the workspace and installed
packages; on Modal a filesystem image) and the record keeps the rest: the
spec, the workspace's libraries and the sessions that were open. Kernel
memory cannot be saved, so `replay=True` re-runs each recorded notebook's
code cells in a new session and reports the cells that fail. Records live in
SQLite, so snapshots outlast the server.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from seer_mcp.errors import InvalidRequest, NotFound, SeerError
from seer_mcp.manager.cells import Cells
from seer_mcp.manager.registry import SandboxRegistry
from seer_mcp.manager.sessions import Sessions
from seer_mcp.manager.state import SnapshotRecord
from seer_mcp.progress import StepProgress, no_progress
from seer_mcp.spec import SandboxSpec
from seer_mcp.workspace import PreparedWorkspace

# A replayed cell gets this long; the server's cell timeout applies when it is longer.
_REPLAY_CELL_TIMEOUT_S = 600.0


class Snapshots:
    def __init__(self, registry: SandboxRegistry, sessions: Sessions, cells: Cells) -> None:
        self._registry = registry
        self._sessions = sessions
        self._cells = cells

    def record(self, snapshot_id: str) -> SnapshotRecord:
        record = self._registry.store.snapshot(snapshot_id)
        if record is None:
            raise NotFound(f"no snapshot {snapshot_id!r}; list_snapshots shows the ones that exist")
        return record

    def list(self) -> list[dict[str, Any]]:
        return [r.public() for r in self._registry.store.snapshots()]

    async def take(self, sandbox_id: str | None, label: str | None = None,
                   progress: StepProgress = no_progress) -> dict[str, Any]:
        live = self._registry.sandbox(sandbox_id)
        snapshot_id = f"snap-{secrets.token_hex(4)}"
        sessions = [{"name": s.name, "kind": s.kind, "notebook_path": s.notebook_path}
                    for s in self._registry.sessions_of(live.record.sandbox_id)]
        async with self._registry.using(live):
            data = await live.backend.snapshot(live.record.handle, snapshot_id, progress)
        record = SnapshotRecord(snapshot_id=snapshot_id, label=label, sandbox_id=live.record.sandbox_id,
                                backend=live.record.backend, spec=live.record.spec, data=data,
                                workspace=live.record.handle.get("workspace", {}), sessions=sessions)
        self._registry.store.put_snapshot(record)
        return record.public()

    async def restore(self, snapshot_id: str, replay: bool = False,
                      progress: StepProgress = no_progress) -> dict[str, Any]:
        record = self.record(snapshot_id)
        spec = SandboxSpec.model_validate(record.spec)
        workspace = PreparedWorkspace(modules=record.workspace.get("modules", []),
                                      docs=record.workspace.get("docs", ""),
                                      skills=record.workspace.get("skills", []))
        sandbox = await self._registry.launch(spec, workspace, progress, restore=record.data)
        sandbox["restored_from"] = snapshot_id
        if replay:
            try:
                sandbox["replayed"] = [await self._replay(sandbox["sandbox_id"], session, progress)
                                       for session in record.sessions if session["kind"] == "notebook"]
            except BaseException:
                await self._registry.terminate_sandbox(sandbox["sandbox_id"], detail="replaying the snapshot failed")
                raise
        return sandbox

    async def _replay(self, sandbox_id: str, recorded: dict[str, Any], progress: StepProgress) -> dict[str, Any]:
        """Re-runs one recorded notebook's code cells, in order, in a new session of the restored sandbox."""
        live = self._registry.sandbox(sandbox_id)
        async with self._registry.using(live) as client:
            notebook = json.loads(await client.download(recorded["notebook_path"]))
        cells = [(i, "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
                 for i, c in enumerate(notebook.get("cells", [])) if c.get("cell_type") == "code"]
        session = await self._sessions.start(sandbox_id, recorded["name"])
        failed = []
        timeout = max(_REPLAY_CELL_TIMEOUT_S, self._registry.settings.cell_timeout)
        for done, (index, source) in enumerate(cells):
            await progress(done, len(cells), f"replaying {recorded['notebook_path']}: cell {index}")
            try:
                result, _ = await self._cells.execute(session["session_id"], source, timeout)
            except SeerError as exc:
                failed.append({"cell_index": index, "ename": type(exc).__name__, "evalue": str(exc)})
                break  # the kernel is gone: later cells cannot run
            if result.status != "ok":
                error = result.error
                failed.append({"cell_index": index, "status": result.status,
                               "ename": error.ename if error else result.status,
                               "evalue": error.evalue if error else result.message})
        return {"notebook": recorded["notebook_path"], "session_id": session["session_id"],
                "notebook_copy": session["notebook_copy"], "cells_run": len(cells), "failed": failed}

    async def delete(self, snapshot_id: str) -> dict[str, Any]:
        record = self.record(snapshot_id)
        try:
            backend = self._registry.backend(record.backend)
        except SeerError as exc:
            raise InvalidRequest(f"snapshot {snapshot_id} belongs to the {record.backend} backend, which is not "
                                 f"available here ({exc})") from exc
        await backend.delete_snapshot(record.data)
        self._registry.store.delete_snapshot(snapshot_id)
        return {"snapshot_id": snapshot_id, "deleted": True}
