"""The interfaces this server serves, across all its sandboxes.

Names are unique server-wide because an interface served with
`expose_as="mcp"` puts its functions on this server as tools named
`<name>_<function>`. Whoever shows those tools (the MCP layer) subscribes with
`on_change` and is told whenever the set changes. Records live in SQLite
next to their sandbox's, so a restarted server serves the same tools again.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from seer_mcp.errors import InvalidRequest, NotFound, SeerError
from seer_mcp.fileio import write_atomically
from seer_mcp.manager.interface_client import client_files
from seer_mcp.manager.state import InterfaceRecord
from seer_mcp.models import ResolvedModel
from seer_mcp.wire import InterfaceCallResult, InterfaceFunction, InterfaceModel, ServeInterfaceRequest
from seer_mcp.workspace import LIBRARIES_DIR

if TYPE_CHECKING:
    from seer_mcp.manager.agent_client import SandboxAgentClient
    from seer_mcp.manager.registry import LiveSandbox, SandboxRegistry

log = logging.getLogger(__name__)

INTERFACES_DIR = "interfaces"  # where files given as code are written, in the workspace
EXPOSE_AS = ("mcp", "library")
# Matched with fullmatch: `$` would also match before a trailing newline.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
_FUNCTION = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


# The longest tool name an interface may make: Claude Code calls a tool `mcp__<server>__<tool>`, and the
# Anthropic and OpenAI APIs take names of at most 64 characters; this leaves room for the server name "seer".
MAX_TOOL_NAME = 64 - len("mcp__seer__")


def tool_name(interface: str, function: str) -> str:
    return f"{interface}_{function}"


def too_long_tool_names(interface: str, functions: list[Any]) -> str:
    """Why an interface's tools cannot be offered as MCP tools, or "" when their names fit."""
    long = [tool_name(interface, f.name) for f in functions if len(tool_name(interface, f.name)) > MAX_TOOL_NAME]
    if not long:
        return ""
    return (f"interface {interface!r} would make tools with names longer than {MAX_TOOL_NAME} characters "
            f"({', '.join(long)}): clients name MCP tools like mcp__<server>__<tool> and model APIs take at most "
            "64 characters; serve it under a shorter name, or shorten those functions' names")


class ServedInterfaces:
    """Follows sandboxes as a hook of the registry (`sandbox_reattached`, `sandbox_gone`)."""

    def __init__(self, registry: "SandboxRegistry") -> None:
        self._registry = registry
        self._records: dict[str, InterfaceRecord] = {}
        self._listeners: list[Callable[[], None]] = []
        self.reserved_tool_names: set[str] = set()  # the server's own tools, which no interface may shadow

    # ----- change notification -------------------------------------------------

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def off_change(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                log.exception("an interface listener failed")

    # ----- what is served --------------------------------------------------------

    def records(self) -> list[InterfaceRecord]:
        return list(self._records.values())

    def record(self, name: str) -> InterfaceRecord:
        record = self._records.get(name)
        if record is None:
            served = ", ".join(sorted(self._records)) or "none"
            raise NotFound(f"no interface {name!r} is served (served: {served}); list_interfaces shows them")
        return record

    def describe(self, record: InterfaceRecord) -> dict[str, Any]:
        functions = [InterfaceFunction.model_validate(f) for f in record.functions]
        out: dict[str, Any] = {
            "name": record.name, "sandbox_id": record.sandbox_id, "expose_as": record.expose_as,
            "path": record.path,
            "functions": [{"name": f.name, "signature": f"{f.name}{f.signature}",
                           "doc": f.doc.split("\n\n")[0] if f.doc else "",
                           **({"tool": tool_name(record.name, f.name)} if record.expose_as == "mcp" else {})}
                          for f in functions],
        }
        if record.expose_as == "library":
            out["import"] = f"import {record.name}"
            out["client_paths"] = record.client_paths
        return out

    def list(self) -> list[dict[str, Any]]:
        return [self.describe(r) for r in self._records.values()]

    def mcp_functions(self) -> list[tuple[InterfaceRecord, InterfaceFunction]]:
        """Every function that is an MCP tool of this server, with its interface."""
        return [(r, InterfaceFunction.model_validate(f)) for r in self._records.values() if r.expose_as == "mcp"
                for f in r.functions]

    # ----- serving ---------------------------------------------------------------

    async def serve(self, sandbox_id: str | None, name: str, *, path: str | None = None, code: str | None = None,
                    host_path: Path | None = None, expose_as: str = "mcp", session_id: str | None = None,
                    call_timeout: float | None = None, env: dict[str, str] | None = None,
                    trusted: bool = False) -> dict[str, Any]:
        """Loads an interface file in a sandbox and serves its exposed functions.

        Exactly one of `path` (inside the sandbox's workspace), `code`, or
        `host_path` (the operator's file, copied in) names the file. For a
        library, `session_id` names the session whose kernels import the client.
        """
        if not _NAME.fullmatch(name or ""):
            raise InvalidRequest(f"interface name {name!r} must be a Python identifier of at most 48 characters "
                                 "starting with a letter: it names tools and a module")
        if expose_as not in EXPOSE_AS:
            raise InvalidRequest(f"expose_as must be 'mcp' or 'library', not {expose_as!r}")
        if sum(x is not None for x in (path, code, host_path)) != 1:
            raise InvalidRequest("give exactly one of path (a file in the sandbox) or code (the file's source)")
        if name in self._records:
            other = self._records[name]
            raise InvalidRequest(f"an interface named {name!r} is already served (sandbox {other.sandbox_id}); "
                                 "reload_interface reloads it, stop_interface removes it, or pick another name")
        live = self._registry.sandbox(sandbox_id)
        target = self._registry.session(session_id) if session_id is not None else None
        if expose_as == "mcp" and session_id is not None:
            raise InvalidRequest("session_id is for expose_as='library' (the session that imports the client)")
        async with self._registry.using(live) as client:
            if code is not None or host_path is not None:
                data = code.encode() if code is not None else await asyncio.to_thread(host_path.read_bytes)  # type: ignore[union-attr]
                path = f"{INTERFACES_DIR}/{name}.py" if code is not None else f"{INTERFACES_DIR}/{host_path.name}"  # type: ignore[union-attr]
                await client.upload(path, data)
            request = ServeInterfaceRequest(
                name=name, path=path or "", models=self._models(live, trusted), env=env or {},
                call_timeout=call_timeout or self._registry.settings.interface_call_timeout)
            info = await client.serve_interface(request)
            clashes = sorted(tool_name(name, f.name) for f in info.functions
                             if tool_name(name, f.name) in self.reserved_tool_names)
            if expose_as == "mcp" and clashes:
                await client.stop_interface(name)
                raise InvalidRequest(f"interface {name!r} would make tools named like this server's own "
                                     f"({', '.join(clashes)}); serve it under another name")
            too_long = too_long_tool_names(name, info.functions) if expose_as == "mcp" else ""
            if too_long:
                await client.stop_interface(name)
                raise InvalidRequest(too_long)
        record = InterfaceRecord(name=name, sandbox_id=live.record.sandbox_id, path=info.path, expose_as=expose_as,
                                 functions=[f.model_dump(mode="json") for f in info.functions], token=info.token,
                                 call_timeout=info.call_timeout, trusted=trusted, env=env or {})
        try:
            if expose_as == "library":
                record.client_paths = await self._write_clients(record, live, target)
        except BaseException:
            async with self._registry.using(live) as client:
                await client.stop_interface(name)
            raise
        self._records[name] = record
        self._registry.store.put_interface(record)
        self._changed()
        return self.describe(record)

    def _models(self, live: "LiveSandbox", trusted: bool) -> list[InterfaceModel]:
        models = []
        for data in live.record.handle.get("models", []):
            model = ResolvedModel.from_record(data)
            reveal = trusted or not model.spec.hidden
            models.append(InterfaceModel(
                var_name=model.spec.var_name, name=model.display_name, path=model.path, base_path=model.base_path,
                is_peft=model.spec.is_peft, hidden=model.spec.hidden,
                lookup_name=model.spec.name if reveal else None,
                base_lookup_name=model.spec.base_model if reveal else None))
        return models

    async def _write_clients(self, record: InterfaceRecord, live: "LiveSandbox",
                             target: tuple[Any, "LiveSandbox"] | None) -> list[str]:
        """The client module and the runtime it imports, in the serving sandbox's outputs dir and in the target
        session's libraries; returns where the client module went."""
        handle = live.record.handle
        # An isolated sandbox's kernels reach its agent through the socket beside their own, not the agent's.
        socket_path, url = handle.get("interface_socket") or handle.get("socket"), handle.get("url")
        if target is not None and socket_path and not url and not target[1].backend.capabilities.on_server_host:
            raise InvalidRequest(f"sandbox {live.record.sandbox_id} is reachable only from this machine, so a "
                                 f"{target[1].record.backend} sandbox cannot call it; serve the interface from a "
                                 "sandbox on the same backend")
        other = target is not None and target[1].record.sandbox_id != live.record.sandbox_id
        if other and target[1].record.handle.get("isolation") == "namespaces":  # type: ignore[index]
            raise InvalidRequest(
                f"sandbox {target[1].record.sandbox_id} is isolated, so its kernels cannot reach sandbox "  # type: ignore[index]
                f"{live.record.sandbox_id}; serve the interface in the sandbox that calls it (or run both "
                "with SEER_ISOLATION=none)")
        functions = [InterfaceFunction.model_validate(f) for f in record.functions]
        files = client_files(record.name, functions, token=record.token, socket_path=socket_path, url=url,
                             call_timeout=record.call_timeout,
                             description=f"Client of interface {record.name!r} served in sandbox "
                                         f"{live.record.sandbox_id}.")
        client_file = f"{record.name}.py"
        outputs = Path(live.record.outputs_path)
        for filename, data in files.items():  # the runtime first: the client never sits there without it
            await asyncio.to_thread(write_atomically, outputs / filename, data, 0o600)
        written = [str(outputs / client_file)]
        if target is not None:
            session, target_live = target
            async with self._registry.using(target_live) as client:
                entries = {filename: await client.upload(f"{LIBRARIES_DIR}/{filename}", data)
                           for filename, data in files.items()}
            written.append(f"{target_live.record.sandbox_id}:{entries[client_file].path} "
                           f"(session {session.session_id})")
        return written

    async def reload(self, name: str) -> dict[str, Any]:
        record = self.record(name)
        live = self._registry.sandbox(record.sandbox_id)
        try:
            async with self._registry.using(live) as client:
                info = await client.reload_interface(name, self._registry.settings.interface_load_timeout)
                too_long = too_long_tool_names(name, info.functions) if record.expose_as == "mcp" else ""
                if too_long:
                    raise InvalidRequest(too_long + "; the file was not reloaded")
        except SeerError:
            record.functions = []  # it failed to load: its tools go until a reload works
            self._registry.store.put_interface(record)
            self._changed()
            raise
        record.functions = [f.model_dump(mode="json") for f in info.functions]
        self._registry.store.put_interface(record)
        self._changed()
        return self.describe(record)

    async def stop(self, name: str) -> dict[str, Any]:
        record = self.record(name)
        live = self._registry.sandbox(record.sandbox_id)
        async with self._registry.using(live) as client:
            try:
                await client.stop_interface(name)
            except NotFound:
                pass  # already gone in the sandbox; forget it here too
        del self._records[name]
        self._registry.store.delete_interface(name)
        self._changed()
        return {"name": name, "stopped": True}

    async def call(self, name: str, function: str, arguments: dict[str, Any] | None,
                   timeout: float | None = None) -> InterfaceCallResult:
        record = self.record(name)
        if not _FUNCTION.fullmatch(function or ""):
            raise InvalidRequest(f"{function!r} is not an exposed function name")
        if not record.functions:
            raise InvalidRequest(f"interface {name!r} did not load last time; fix the file and reload_interface")
        live = self._registry.sandbox(record.sandbox_id)
        async with self._registry.using(live) as client:
            return await client.call_interface(name, function, arguments or {}, timeout or record.call_timeout)

    # ----- sandboxes coming and going --------------------------------------------

    def load(self, sandbox_id: str, served: set[str]) -> None:
        """After a server restart: keeps the records whose worker the sandbox still runs."""
        for record in self._registry.store.interfaces(sandbox_id):
            if record.name in served:
                self._records[record.name] = record
            else:
                self._registry.store.delete_interface(record.name)
        self._changed()

    async def sandbox_reattached(self, sandbox_id: str, client: "SandboxAgentClient") -> None:
        try:
            served = {info.name for info in await client.list_interfaces()}
        except SeerError:
            served = set()
        self.load(sandbox_id, served)

    def sandbox_gone(self, sandbox_id: str) -> None:
        names = [n for n, r in self._records.items() if r.sandbox_id == sandbox_id]
        for name in names:
            del self._records[name]
        self._registry.store.delete_interfaces_of(sandbox_id)
        if names:
            self._changed()
