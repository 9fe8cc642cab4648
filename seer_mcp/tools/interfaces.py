"""Tools that serve interface files, and the MCP tools an interface's functions become.

Functions of an interface served with `expose_as="mcp"` are tools of this
server named `<interface>_<function>`, with the function's docstring and an
input schema built from its signature. They come and go with the interface;
the client is told each time (`notifications/tools/list_changed`), and
`call_interface` reaches the same functions for clients that don't refresh.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal

import mcp.types as mcp_types
from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_context
from fastmcp.tools.base import Tool, ToolResult
from pydantic import Field

from seer_mcp.tools.groups import INTERFACE_TOOLS
from seer_mcp.errors import SeerError
from seer_mcp.limits import MAX_INTERFACE_CALL_TIMEOUT_S, seconds_limit
from seer_mcp.manager.facade import SandboxManager
from seer_mcp.manager.interfaces import tool_name
from seer_mcp.tools.common import manager_of, model_errors
from seer_mcp.tools.results import output_result, status_line
from seer_mcp.tools.subscriptions import announce_tools_changed
from seer_mcp.tools.shaping import OutputBudget
from seer_mcp.wire import InterfaceCallResult, InterfaceFunction

log = logging.getLogger(__name__)


def call_result(name: str, function: str, result: InterfaceCallResult, budget: int) -> ToolResult:
    """A call's value as an output (see `seer_mcp.tools.results`): text as it is, anything else as JSON; or an
    error result with the function's traceback."""
    if not result.ok:
        error = result.error
        lines = [f"{name}.{function} failed: {error.ename}: {error.evalue}" if error else f"{name}.{function} failed"]
        if error and error.traceback:
            lines.append("".join(error.traceback).rstrip())
        text, _ = OutputBudget(budget).cut("\n".join(lines), "the traceback")
        raise ToolError(text)
    value = result.result
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    shown, cut = OutputBudget(budget).cut(text, "the result (call it from a notebook or return less)")
    kind = "text" if isinstance(value, str) else "JSON"
    meta = {"interface": name, "function": function, "chars": len(text), "chars_cut": cut}
    return output_result([mcp_types.TextContent(type="text", text=shown)] if shown else [],
                         status_line(f"{name}.{function}", f"returned {kind}", "" if shown else "empty"), meta)


class InterfaceFunctionTool(Tool):
    """One exposed function, as a tool of this server."""

    interface: str
    function: str

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        manager = manager_of(get_context())
        try:
            result = await manager.interfaces.call(self.interface, self.function, arguments)
        except SeerError as exc:
            raise ToolError(str(exc)) from exc
        return call_result(self.interface, self.function, result, manager.settings.output_budget)


def _description(interface: str, sandbox_id: str, fn: InterfaceFunction) -> str:
    doc = fn.doc or "(no docstring)"
    return f"{doc}\n\n{fn.name}{fn.signature}  [interface {interface}, sandbox {sandbox_id}]"


class InterfaceToolSync:
    """Keeps this server's tool list equal to the functions of the interfaces served as MCP."""

    def __init__(self, mcp: FastMCP, allowed: set[str] | None) -> None:
        self._mcp = mcp
        self._shown = allowed is None or INTERFACE_TOOLS in allowed
        self._current: dict[str, str] = {}  # tool name -> the description it was made from
        self._manager: SandboxManager | None = None
        self._fixed: set[str] = set()

    def bind(self, manager: SandboxManager, fixed_tools: set[str]) -> None:
        self._manager = manager
        self._fixed = fixed_tools
        if isinstance(manager, SandboxManager):  # a bound server shares a manager it does not own
            manager.interfaces.reserved_tool_names = fixed_tools
        manager.interfaces.on_change(self.sync)
        self.sync()

    def unbind(self) -> None:
        if self._manager is not None:
            self._manager.interfaces.off_change(self.sync)
            self._manager = None

    def sync(self) -> None:
        if self._manager is None:
            return
        wanted: dict[str, tuple[str, str, InterfaceFunction]] = {}
        if self._shown:
            for record, fn in self._manager.interfaces.mcp_functions():
                wanted[tool_name(record.name, fn.name)] = (record.name, record.sandbox_id, fn)
        for name in list(self._current):
            if name not in wanted or self._current[name] != wanted[name][2].model_dump_json():
                self._mcp.local_provider.remove_tool(name)
                del self._current[name]
        for name, (interface, sandbox_id, fn) in wanted.items():
            if name in self._current or name in self._fixed:
                continue
            self._mcp.add_tool(InterfaceFunctionTool(
                name=name, interface=interface, function=fn.name,
                description=_description(interface, sandbox_id, fn), parameters=fn.input_schema,
                annotations=mcp_types.ToolAnnotations(title=f"{interface}.{fn.name}", openWorldHint=True)))
            self._current[name] = fn.model_dump_json()


def register(mcp: FastMCP) -> None:
    @mcp.tool(annotations={"title": "Serve an interface file", "destructiveHint": False, "openWorldHint": True})
    @model_errors
    async def serve_interface(
        ctx: Context,
        name: Annotated[str, Field(description="Names the interface: tools become <name>_<function>, "
                                               "the library `import <name>`.")],
        sandbox_id: Annotated[str | None, Field(description="The sandbox that runs the file; may be left out "
                                                            "when exactly one is running.")] = None,
        path: Annotated[str | None, Field(description="The interface file, inside the sandbox's workspace.")] = None,
        code: Annotated[str | None, Field(description="The file's source, when there is no file yet.")] = None,
        expose_as: Annotated[Literal["mcp", "library"], Field(
            description="'mcp': each @expose'd function becomes a tool of this server. 'library': a client "
                        "module that a notebook imports (written into session_id's workspace).")] = "mcp",
        session_id: Annotated[str | None, Field(
            description="For expose_as='library': the session (of any sandbox) whose kernels import it.")] = None,
        call_timeout: Annotated[float | None, Field(
            gt=0, le=MAX_INTERFACE_CALL_TIMEOUT_S,
            description=f"Seconds before a call is cancelled, at most {seconds_limit(MAX_INTERFACE_CALL_TIMEOUT_S)}; "
                        "default: the server's interface call timeout.")] = None,
    ) -> dict[str, Any]:
        """Load a Python interface file in a sandbox and serve its @expose'd functions, and nothing else.

        The file runs once, in a worker process of its own (load models at module level); the
        functions then run there on each call. `from seer_mcp.interface import expose,
        get_model_path` in the file (both also work without the import).
        """
        served = await manager_of(ctx).interfaces.serve(
            sandbox_id, name, path=path, code=code, expose_as=expose_as, session_id=session_id,
            call_timeout=call_timeout)
        if expose_as == "mcp":
            await announce_tools_changed(ctx)
        return served

    @mcp.tool(annotations={"title": "Call an interface function", "openWorldHint": True})
    @model_errors
    async def call_interface(
        ctx: Context,
        name: Annotated[str, Field(description="The interface, as list_interfaces shows it.")],
        function: Annotated[str, Field(description="One of its exposed functions.")],
        arguments: Annotated[dict[str, Any] | None, Field(
            description="Arguments by parameter name (*args as a list, **kwargs as an object, each under "
                        "its own name).")] = None,
    ) -> ToolResult:
        """Call an exposed function of a served interface (the same as its <name>_<function> tool)."""
        manager = manager_of(ctx)
        result = await manager.interfaces.call(name, function, arguments)
        return call_result(name, function, result, manager.settings.output_budget)

    @mcp.tool(annotations={"title": "List interfaces", "readOnlyHint": True})
    @model_errors
    async def list_interfaces(ctx: Context) -> dict[str, Any]:
        """List served interfaces with their functions' signatures and tools."""
        return {"interfaces": manager_of(ctx).interfaces.list()}

    @mcp.tool(annotations={"title": "Reload an interface", "destructiveHint": True})
    @model_errors
    async def reload_interface(ctx: Context, name: str) -> dict[str, Any]:
        """Load an interface's file again, after it changed or its worker died (module state starts afresh)."""
        try:
            return await manager_of(ctx).interfaces.reload(name)
        finally:
            await announce_tools_changed(ctx)

    @mcp.tool(annotations={"title": "Stop an interface", "destructiveHint": True, "idempotentHint": False})
    @model_errors
    async def stop_interface(ctx: Context, name: str) -> dict[str, Any]:
        """Stop serving an interface: its worker ends and its tools go away."""
        stopped = await manager_of(ctx).interfaces.stop(name)
        await announce_tools_changed(ctx)
        return stopped
