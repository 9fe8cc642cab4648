"""The MCP server: a FastMCP app whose lifespan owns the sandbox manager."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

from fastmcp import FastMCP

from seer_mcp.version import __version__
from seer_mcp.experiments.config import ExperimentConfig
from seer_mcp.experiments.provision import provision
from seer_mcp.manager.facade import SandboxManager
from seer_mcp.manager.scope import BoundManager, Scope
from seer_mcp.settings import Settings
from seer_mcp.tools import cells, files, interfaces, sandboxes, snapshots
from seer_mcp.tools.bound import ScopedResources, bind_resources
from seer_mcp.tools.portable_schema import PortableSchemas
from seer_mcp.tools.subscriptions import serve_subscriptions
from seer_mcp.ui import WebUI

INSTRUCTIONS = """\
seer-mcp runs Python experiments in sandboxes, as Jupyter notebooks.

Workflow: create_sandbox -> start_session(sandbox_id) -> execute_code(code) as many times as
you need (variables persist between cells, like a notebook) -> terminate_sandbox when done.
Plots (matplotlib) come back as images; exceptions come back as errors with their traceback.
Every cell is saved to a .ipynb notebook (read_notebook shows it). Use add_markdown for notes.
A cell that runs past its timeout is interrupted and its kernel keeps its variables; if a
kernel dies its state is lost and restart_kernel gives a fresh one. sandbox_exec, read_file,
write_file and list_files work inside the sandbox's workspace. When exactly one session is
open, session_id may be left out.

Models given to create_sandbox are loaded in every session before your first cell (as `model`
and `tokenizer` unless named otherwise): start_session's model_info says what they are. Every
kernel can `import toolkit` for interpretability helpers (get_activations, steer, logit_lens,
generate, concept_vector, activation_patching, ...; help(toolkit.<name>) documents each), and
imports the sandbox's workspace libraries, described in start_session's library_docs.

serve_interface loads a Python file's @expose'd functions in a sandbox and serves them: as tools
of this server named <interface>_<function> (expose_as="mcp"; call_interface reaches them too),
or as a module a notebook imports (expose_as="library"). list_interfaces shows what is served.
"""


def build_server(settings: Settings | None = None, auth: Any = None,
                 experiment: ExperimentConfig | None = None, ui_token: str | None = None,
                 ui_port: int | None = None) -> FastMCP:
    """The seer-mcp server; `auth` (a fastmcp auth provider) guards HTTP transports.

    With an `experiment`, the server sets up the config's sandbox, session and
    interfaces when it starts, shows only the tools the config's agent section
    allows, and terminates that sandbox when it stops.

    With a `ui_token`, the web UI (`seer_mcp.ui`) is served too, to whoever holds
    that token: at /ui of the HTTP app, and with `ui_port` also on 127.0.0.1:ui_port
    for as long as the server runs (how a stdio server offers it).
    """
    settings = settings or Settings()
    allowed = experiment.allowed_tools() if experiment is not None else None
    ui = WebUI(ui_token) if ui_token else None

    @contextlib.asynccontextmanager
    async def lifespan(server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        async with contextlib.AsyncExitStack() as stack:
            if ui is not None and ui_port is not None:
                await stack.enter_async_context(ui.serving(ui_port, allowed_hosts=settings.http_allowed_hosts))
            manager = await stack.enter_async_context(SandboxManager(settings))
            if ui is not None:
                ui.manager = manager
                stack.callback(setattr, ui, "manager", None)
            await _show_only(server, allowed, manager, interface_tools)
            if experiment is None:
                yield {"manager": manager}
                return
            provisioned = await provision(manager, experiment)
            server.instructions = provisioned.instructions(allowed or set())
            try:
                yield {"manager": manager}
            finally:
                await manager.terminate_sandbox(provisioned.sandbox_id, detail="the experiment's server stopped")

    mcp, interface_tools = _assemble(lifespan, auth, allowed)
    if ui is not None:
        ui.mount(mcp)
    return mcp


def build_bound_server(manager: SandboxManager, scope: Scope, allowed: set[str], instructions: str,
                       auth: Any = None) -> FastMCP:
    """A server on a manager it does not own, held to one session or sandbox (see `seer_mcp.manager.scope`): its tools
    reach the manager through a `BoundManager`, and its resources are its scope's (`seer_mcp.tools.bound`)."""
    bound = BoundManager(manager, scope)

    @contextlib.asynccontextmanager
    async def lifespan(server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        await _show_only(server, allowed, bound, interface_tools)  # type: ignore[arg-type]
        await bind_resources(server, bound.scope)
        try:
            yield {"manager": bound}
        finally:
            interface_tools.unbind()

    mcp, interface_tools = _assemble(lifespan, auth, allowed, instructions)
    mcp.add_middleware(ScopedResources(mcp, bound.scope))
    return mcp


def _assemble(lifespan: Any, auth: Any, allowed: set[str] | None,
              instructions: str = INSTRUCTIONS) -> tuple[FastMCP, interfaces.InterfaceToolSync]:
    mcp = FastMCP("seer-mcp", instructions=instructions, version=__version__, lifespan=lifespan, auth=auth)
    mcp.add_middleware(PortableSchemas())  # every tool's input schema in the subset all clients accept
    serve_subscriptions(mcp)  # tool-list changes reach 2026-07-28 clients too
    interface_tools = interfaces.InterfaceToolSync(mcp, allowed)
    sandboxes.register(mcp)
    cells.register(mcp)
    files.register(mcp)
    interfaces.register(mcp)
    snapshots.register(mcp)
    return mcp, interface_tools


async def _show_only(server: FastMCP, allowed: set[str] | None, manager: SandboxManager,
                     interface_tools: interfaces.InterfaceToolSync) -> None:
    """Removes the tools `allowed` leaves out, then lets interface tools follow the manager."""
    own_tools = {tool.name for tool in await server.list_tools(run_middleware=False)}
    for name in own_tools - (allowed if allowed is not None else own_tools):
        server.local_provider.remove_tool(name)
    interface_tools.bind(manager, own_tools)
