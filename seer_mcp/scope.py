"""A server bound to one session or sandbox: what a script hands to an agent as its `mcp_config`.

The bound server shares the script's manager, but every tool call it serves
is held to its session (or sandbox): a call that leaves `session_id` out gets
the bound one, and a call that names another is refused. Interface tools are
limited to the interfaces it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seer_mcp.errors import InvalidRequest

if TYPE_CHECKING:
    from seer_mcp.manager import SandboxManager


@dataclass
class Scope:
    session_id: str | None = None
    sandbox_id: str | None = None
    interfaces: set[str] = field(default_factory=set)


class BoundManager:
    """The manager as a bound server's tools see it: ids default to, and are held to, the scope."""

    def __init__(self, manager: "SandboxManager", scope: Scope) -> None:
        self._manager = manager
        self.scope = scope

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)

    @property
    def interfaces(self) -> "ScopedInterfaces":
        return ScopedInterfaces(self._manager.interfaces, self.scope.interfaces)

    def _session(self, given: str | None) -> str | None:
        bound = self.scope.session_id
        if bound is not None and given not in (None, bound):
            raise InvalidRequest(f"this server is bound to session {bound}; leave session_id out")
        return bound or given

    def _sandbox(self, given: str | None) -> str | None:
        bound = self.scope.sandbox_id
        if bound is not None and given not in (None, bound):
            raise InvalidRequest(f"this server is bound to sandbox {bound}; leave sandbox_id out")
        return bound or given

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

    def session(self, session_id: str | None) -> Any:
        return self._manager.session(self._session(session_id))

    async def exec(self, sandbox_id: str | None, *args: Any) -> Any:
        return await self._manager.exec(self._sandbox(sandbox_id), *args)

    async def read_file(self, sandbox_id: str | None, *args: Any) -> Any:
        return await self._manager.read_file(self._sandbox(sandbox_id), *args)

    async def write_file(self, sandbox_id: str | None, *args: Any) -> Any:
        return await self._manager.write_file(self._sandbox(sandbox_id), *args)

    async def list_files(self, sandbox_id: str | None, *args: Any) -> Any:
        return await self._manager.list_files(self._sandbox(sandbox_id), *args)


class ScopedInterfaces:
    """The served interfaces a bound server may show and call."""

    def __init__(self, served: Any, names: set[str]) -> None:
        self._served = served
        self._names = names

    def __getattr__(self, name: str) -> Any:
        return getattr(self._served, name)

    def _check(self, name: str) -> None:
        if name not in self._names:
            raise InvalidRequest(f"no interface {name!r} is served to this session; list_interfaces shows them")

    def list(self) -> list[dict[str, Any]]:
        return [i for i in self._served.list() if i["name"] in self._names]

    def mcp_functions(self) -> list[Any]:
        return [(r, f) for r, f in self._served.mcp_functions() if r.name in self._names]

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._check(name)
        return await self._served.call(name, *args, **kwargs)
