"""Starting and ending sessions: a notebook's kernel with the sandbox's models, libraries and set-up
code, or a persistent shell (`kind="cli"`).

What a notebook session starts with is assembled here from the sandbox's record
(its spec, resolved models and workspace) and, for the Python API, a session's
own workspace; the agent runs it.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from seer_mcp.errors import InvalidRequest
from seer_mcp.manager.registry import LiveSandbox, SandboxRegistry
from seer_mcp.manager.state import SessionRecord
from seer_mcp.models import ResolvedModel, model_info_code, model_info_text, preload_code
from seer_mcp.spec import SandboxSpec
from seer_mcp.wire import SessionInfo, StartSessionRequest
from seer_mcp.workspace import PreparedWorkspace, WorkspaceSpec


class Sessions:
    def __init__(self, registry: SandboxRegistry) -> None:
        self._registry = registry

    async def start(self, sandbox_id: str | None, name: str | None = None, kind: str = "notebook",
                    workspace: PreparedWorkspace | None = None,
                    workspace_spec: WorkspaceSpec | None = None) -> dict[str, Any]:
        """Starts a session; `workspace` adds a session's own libraries, files and set-up code (the API's)."""
        live = self._registry.sandbox(sandbox_id)
        session_id = f"ses-{secrets.token_hex(6)}"
        if kind not in ("notebook", "cli"):
            raise InvalidRequest(f"session kind must be 'notebook' or 'cli', not {kind!r}")
        if workspace is not None:
            async with self._registry.using(live) as client:
                for upload in workspace.uploads:
                    await client.upload(upload.sandbox_path, upload.data)
        if kind == "cli":
            async with self._registry.using(live) as client:
                info = await client.start_session(StartSessionRequest(name=name, session_id=session_id, kind="cli"))
            return self._record(live, session_id, info, "cli")
        preloaded, request = self._notebook_request(live, session_id, name, workspace, workspace_spec)
        async with self._registry.using(live) as client:
            info = await client.start_session(request)
        docs = "\n\n".join(d for d in (live.record.handle.get("workspace", {}).get("docs", ""),
                                       workspace.docs if workspace else "") if d)
        return self._record(live, session_id, info, "notebook",
                            model_info=model_info_text(json.loads(info.init_output)) if preloaded else "",
                            library_docs=docs)

    def _notebook_request(self, live: LiveSandbox, session_id: str, name: str | None,
                          workspace: PreparedWorkspace | None, workspace_spec: WorkspaceSpec | None,
                          ) -> tuple[list[ResolvedModel], StartSessionRequest]:
        """What a new kernel runs first: the models to preload, the libraries' imports, the set-up code."""
        spec = SandboxSpec.model_validate(live.record.spec)
        own = workspace_spec or spec.workspace
        models = [ResolvedModel.from_record(m) for m in live.record.handle.get("models", [])]
        preloaded = [m for m in models if m.spec.preload] if own.preload_models else []
        modules = live.record.handle.get("workspace", {}).get("modules", []) + (workspace.modules if workspace else [])
        custom = "\n".join(code for code in (spec.workspace.custom_init_code,
                                              workspace_spec.custom_init_code if workspace_spec else None) if code)
        return preloaded, StartSessionRequest(
            name=name, session_id=session_id,
            model_code=preload_code(preloaded) if preloaded else None,
            show_model_code=not own.hidden_model_loading,
            init_code=PreparedWorkspace(modules=modules).init_code(live.record.workspace_path, custom or None),
            info_code=model_info_code(preloaded) if preloaded else None,
        )

    def _record(self, live: LiveSandbox, session_id: str, info: SessionInfo, kind: str,
                **extra: str) -> dict[str, Any]:
        mirror = info.mirror_path or str(Path(live.record.outputs_path) / Path(info.notebook_path).name)
        record = SessionRecord(session_id=session_id, sandbox_id=live.record.sandbox_id, name=info.name,
                               kind=kind, notebook_path=info.notebook_path, mirror_path=mirror, **extra)
        self._registry.add_session(record)
        return self.describe(record)

    def describe(self, record: SessionRecord) -> dict[str, Any]:
        live = self._registry.sandbox(record.sandbox_id)
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
        return self._registry.sandbox(sandbox_id).record.handle.get("workspace", {}).get("docs", "")

    def list(self) -> list[dict[str, Any]]:
        return [self.describe(s) for s in self._registry.sessions()]

    async def end(self, session_id: str | None) -> dict[str, Any]:
        record, live = self._registry.session(session_id)
        async with self._registry.using(live) as client:
            await client.end_session(record.session_id)
        self._registry.remove_session(record)
        return {"session_id": record.session_id, "ended": True, "notebook_copy": record.mirror_path}
