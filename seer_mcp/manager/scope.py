"""A server bound to one session or sandbox: what a script hands to an agent as its `mcp_config`.

The bound server shares the script's manager, but its tools see the manager only
through a `BoundManager`, which has the operations listed here and no others:

- held to the scope (`HELD_TO_SCOPE`): a call that leaves `session_id` (or
  `sandbox_id`) out gets the bound one, a call that names another is refused,
  and a list shows only what is in the scope;
- refused (`REFUSED`): what the script does for its agent, not the agent itself:
  creating and terminating sandboxes, starting sessions, snapshots. The tool
  answers that this server cannot do it;
- absent (`ABSENT`): the script's and the server's own machinery (the store,
  backends, live sandbox handles). A bound server has no such attribute, and a
  manager method added later is absent too until it is put in one of these
  lists (tests/security/test_bound_scope.py checks that every public one is).

Interfaces are held the same way (`INTERFACES_HELD`, ...): the bound server shows
and calls only the interfaces it was given, in its own sandbox. Its resources
are its scope's (`seer_mcp.tools.bound`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from seer_mcp.errors import InvalidRequest, NotFound

if TYPE_CHECKING:
    from seer_mcp.manager.facade import LiveSandbox, SandboxManager
    from seer_mcp.manager.interfaces import ServedInterfaces
    from seer_mcp.manager.state import InterfaceRecord, SessionRecord
    from seer_mcp.settings import Settings

# Every public attribute of `SandboxManager`, in exactly one of these.
HELD_TO_SCOPE = frozenset({
    "settings", "interfaces", "list_sandboxes", "list_sessions", "session", "library_docs",
    "execute", "edit_cell", "wait_cell", "add_markdown", "interrupt", "restart", "read_notebook", "end_session",
    "exec", "read_file", "write_file", "list_files",
})
REFUSED = frozenset({"create_sandbox", "terminate_sandbox", "start_session", "snapshots"})
ABSENT = frozenset({
    "start", "close", "backend", "launch", "sandbox", "using", "describe_session", "sessions_of",
    "notebook_bytes", "store", "events",
})

# Every public attribute of `ServedInterfaces`, in exactly one of these.
INTERFACES_HELD = frozenset({"list", "mcp_functions", "call", "on_change", "off_change"})
INTERFACES_REFUSED = frozenset({"serve", "reload", "stop"})
INTERFACES_ABSENT = frozenset({"records", "record", "describe", "load", "sandbox_reattached", "sandbox_gone",
                               "reserved_tool_names"})


@dataclass
class Scope:
    session_id: str | None = None
    sandbox_id: str | None = None
    interfaces: set[str] = field(default_factory=set)

    def __str__(self) -> str:
        return f"session {self.session_id}" if self.session_id else f"sandbox {self.sandbox_id}"


def _refusal(what: str) -> Callable[..., NoReturn]:
    """An operation a bound server answers with a refusal (sync or async callers alike: it raises on the call)."""

    def refuse(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise InvalidRequest(f"this server is bound to {self.scope} and cannot {what}; "
                             "the script that gave it to you does that")

    return refuse


class BoundManager:
    """The manager as a bound server's tools see it: the operations above, each held to the scope."""

    def __init__(self, manager: SandboxManager, scope: Scope) -> None:
        if scope.session_id is None and scope.sandbox_id is None:
            raise InvalidRequest("a bound server needs a session or a sandbox to be bound to")
        if scope.session_id is not None:
            record, _ = manager.session(scope.session_id)
            if scope.sandbox_id not in (None, record.sandbox_id):
                raise InvalidRequest(f"session {scope.session_id} is not in sandbox {scope.sandbox_id}")
            scope = dataclasses.replace(scope, sandbox_id=record.sandbox_id)
        self._manager = manager
        self.scope = scope
        self.interfaces = ScopedInterfaces(manager.interfaces, scope)
        self.snapshots = RefusedSnapshots(scope)

    @property
    def settings(self) -> Settings:
        return self._manager.settings

    # ----- ids held to the scope ----------------------------------------------------

    def _session(self, given: str | None) -> str:
        bound = self.scope.session_id
        if bound is not None:
            if given not in (None, bound):
                raise InvalidRequest(f"this server is bound to session {bound}; session {given!r} is out of its "
                                     "reach (leave session_id out)")
            return bound
        own = [s.session_id for s in self._manager.sessions_of(self._sandbox_id)]
        if given is None:
            if len(own) == 1:
                return own[0]
            if not own:
                raise NotFound(f"no session is open in sandbox {self._sandbox_id}")
            raise InvalidRequest(f"{len(own)} sessions are open in sandbox {self._sandbox_id} ({', '.join(own)}); "
                                 "pass session_id")
        if given not in own:
            raise InvalidRequest(f"this server is bound to sandbox {self._sandbox_id}; session {given!r} is not "
                                 f"one of its sessions ({', '.join(own) or 'none is open'})")
        return given

    @property
    def _sandbox_id(self) -> str:
        assert self.scope.sandbox_id is not None  # set in __init__
        return self.scope.sandbox_id

    def _sandbox(self, given: str | None) -> str:
        if given not in (None, self._sandbox_id):
            raise InvalidRequest(f"this server is bound to sandbox {self._sandbox_id}; sandbox {given!r} is out of "
                                 "its reach (leave sandbox_id out)")
        return self._sandbox_id

    def _in_scope(self, session_id: str) -> bool:
        return self.scope.session_id in (None, session_id)

    # ----- held to the scope --------------------------------------------------------

    def list_sandboxes(self, include_ended: bool = False) -> list[dict[str, Any]]:
        own = [s for s in self._manager.list_sandboxes(include_ended) if s["sandbox_id"] == self._sandbox_id]
        for info in own:
            info["sessions"] = [s for s in info["sessions"] if self._in_scope(s)]
        return own

    def list_sessions(self) -> list[dict[str, Any]]:
        return [s for s in self._manager.list_sessions()
                if s["sandbox_id"] == self._sandbox_id and self._in_scope(s["session_id"])]

    def session(self, session_id: str | None) -> tuple[SessionRecord, LiveSandbox]:
        return self._manager.session(self._session(session_id))

    def library_docs(self, sandbox_id: str | None) -> str:
        return self._manager.library_docs(self._sandbox(sandbox_id))

    async def execute(self, session_id: str | None, *args: Any, **kwargs: Any) -> Any:
        return await self._manager.execute(self._session(session_id), *args, **kwargs)

    async def edit_cell(self, session_id: str | None, *args: Any, **kwargs: Any) -> Any:
        return await self._manager.edit_cell(self._session(session_id), *args, **kwargs)

    async def wait_cell(self, session_id: str | None, *args: Any, **kwargs: Any) -> Any:
        return await self._manager.wait_cell(self._session(session_id), *args, **kwargs)

    async def add_markdown(self, session_id: str | None, *args: Any, **kwargs: Any) -> Any:
        return await self._manager.add_markdown(self._session(session_id), *args, **kwargs)

    async def interrupt(self, session_id: str | None) -> Any:
        return await self._manager.interrupt(self._session(session_id))

    async def restart(self, session_id: str | None) -> Any:
        return await self._manager.restart(self._session(session_id))

    async def read_notebook(self, session_id: str | None, *args: Any) -> Any:
        return await self._manager.read_notebook(self._session(session_id), *args)

    async def end_session(self, session_id: str | None) -> Any:
        return await self._manager.end_session(self._session(session_id))

    async def exec(self, sandbox_id: str | None, *args: Any) -> Any:
        return await self._manager.exec(self._sandbox(sandbox_id), *args)

    async def read_file(self, sandbox_id: str | None, *args: Any) -> Any:
        return await self._manager.read_file(self._sandbox(sandbox_id), *args)

    async def write_file(self, sandbox_id: str | None, *args: Any) -> Any:
        return await self._manager.write_file(self._sandbox(sandbox_id), *args)

    async def list_files(self, sandbox_id: str | None, *args: Any) -> Any:
        return await self._manager.list_files(self._sandbox(sandbox_id), *args)

    # ----- refused --------------------------------------------------------------------

    create_sandbox = _refusal("create sandboxes")
    terminate_sandbox = _refusal("terminate sandboxes")
    start_session = _refusal("start sessions")


class RefusedSnapshots:
    """Snapshots as a bound server sees them: the script takes and restores them, not its agent."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    take = _refusal("take snapshots")
    list = _refusal("list snapshots")
    restore = _refusal("restore snapshots")
    delete = _refusal("delete snapshots")


class ScopedInterfaces:
    """The served interfaces a bound server may show and call: those it was given, in its sandbox."""

    def __init__(self, served: ServedInterfaces, scope: Scope) -> None:
        self._served = served
        self.scope = scope

    def _visible(self, name: str, sandbox_id: str) -> bool:
        return name in self.scope.interfaces and sandbox_id == self.scope.sandbox_id

    def list(self) -> list[dict[str, Any]]:
        return [i for i in self._served.list() if self._visible(i["name"], i["sandbox_id"])]

    def mcp_functions(self) -> list[tuple[InterfaceRecord, Any]]:
        return [(r, f) for r, f in self._served.mcp_functions() if self._visible(r.name, r.sandbox_id)]

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        # Not `record(name)`: its error names every interface the manager serves.
        if not any(self._visible(r.name, r.sandbox_id) for r in self._served.records() if r.name == name):
            raise InvalidRequest(f"no interface {name!r} is served to this server; list_interfaces shows them")
        return await self._served.call(name, *args, **kwargs)

    def on_change(self, listener: Callable[[], None]) -> None:
        self._served.on_change(listener)

    def off_change(self, listener: Callable[[], None]) -> None:
        self._served.off_change(listener)

    serve = _refusal("serve interfaces")
    reload = _refusal("reload interfaces")
    stop = _refusal("stop interfaces")
