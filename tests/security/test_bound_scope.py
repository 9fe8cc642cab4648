"""A bound server, from the agent's side: nothing outside its session (or sandbox) is within its reach.

One runtime for the module, as a script has one: sandbox A with sessions a1 and a2, and
sandbox B (a `ScopedSandbox`) with session b1 and an interface `theirs`. The servers under
test are the ones the Python API hands out (over HTTP, as an agent gets them) and, to show
that the scope holds beneath the tool list too, bound servers that allow every tool.
"""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastmcp import Client, FastMCP
from mcp.shared.exceptions import MCPError

from seer_mcp import Sandbox, SandboxConfig, ScopedSandbox, create_notebook_session
from seer_mcp.api import Runtime, set_default_runtime
from seer_mcp.api.sessions import NotebookSession
from seer_mcp.experiments.config import INTERFACE_TOOLS, KNOWN_TOOLS, TOOL_GROUPS
from seer_mcp.errors import InvalidRequest, NotFound
from seer_mcp.manager.facade import SandboxManager
from seer_mcp.manager.scope import (
    ABSENT,
    HELD_TO_SCOPE,
    INTERFACES_ABSENT,
    INTERFACES_HELD,
    INTERFACES_REFUSED,
    REFUSED,
    BoundManager,
    Scope,
)
from seer_mcp.manager.interfaces import ServedInterfaces
from seer_mcp.server.app import build_bound_server
from seer_mcp.settings import Settings
from tests.api.conftest import make_runtime
from tests.conftest import fields_of, text_of

pytestmark = pytest.mark.slow

T = TypeVar("T")
# Every tool of the server.
EVERY_TOOL = set(KNOWN_TOOLS) | {INTERFACE_TOOLS}


@dataclass
class World:
    runtime: Runtime
    a: str
    a1: NotebookSession
    a2: str
    b: str
    b1: str
    b_workspace: Path
    b_interface: dict[str, Any]  # the mcp_config ScopedSandbox.serve gave for `theirs`

    def reach(self, target: FastMCP | dict[str, Any], probe: Callable[[Client], Awaitable[T]]) -> T:
        """Runs `probe` with a client of `target`, on the runtime's loop (where the manager lives)."""

        async def connected() -> T:
            async with Client(target if isinstance(target, FastMCP) else {"mcpServers": target}) as client:
                return await probe(client)

        return self.runtime.run(connected())

    def bound(self, scope: Scope, allowed: set[str] = EVERY_TOOL) -> FastMCP:
        return build_bound_server(self.runtime.manager, scope, allowed, "a bound server under test")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("bound")
    runtime = make_runtime(tmp)
    try:
        a = Sandbox(SandboxConfig(), runtime).start()
        a1 = create_notebook_session(a, name="mine")
        a2 = create_notebook_session(a, name="sibling")
        b = ScopedSandbox(SandboxConfig(), runtime).start()
        b1 = create_notebook_session(b, name="theirs")
        interface = tmp / "theirs.py"
        interface.write_text(textwrap.dedent('''
            @expose
            def ping() -> str:
                """Answers."""
                return "pong"
        '''))
        b_interface = b.serve(interface, expose_as="mcp", name="theirs")
        assert isinstance(b_interface, dict)
        yield World(runtime, a.sandbox_id, a1, a2.session_id, b.sandbox_id, b1.session_id,
                    Path(b.info["workspace_path"]), b_interface)
    finally:
        runtime.close()
        set_default_runtime(None)


async def refusal(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """The error text of a call that must not get through."""
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    assert result.is_error, f"{tool}({arguments}) got through: {text_of(result)}"
    return text_of(result)


def untouched(world: World) -> None:
    """What the probes tried to reach is as it was: both sandboxes running, b1 open with no cells."""
    manager = world.runtime.manager
    assert {s["sandbox_id"] for s in manager.list_sandboxes()} == {world.a, world.b}
    assert world.b1 in {s["session_id"] for s in manager.list_sessions()}
    assert world.runtime.run(manager.read_notebook(world.b1, 0, 10)).total_cells == 0
    assert [i["name"] for i in manager.interfaces.list()] == ["theirs"]


# ----- the session server a script hands its agent ------------------------------------------


def test_a_session_server_shows_only_its_cell_tools(world: World) -> None:
    async def probe(client: Client) -> set[str]:
        return {tool.name for tool in await client.list_tools()}

    assert world.reach(world.a1.mcp_config, probe) == set(TOOL_GROUPS["cells"])


def test_a_session_server_lists_only_its_own_resources_and_no_templates_or_prompts(world: World) -> None:
    async def probe(client: Client) -> tuple[set[str], list[Any], list[Any]]:
        resources = {str(r.uri) for r in await client.list_resources()}
        return resources, await client.list_resource_templates(), await client.list_prompts()

    resources, templates, prompts = world.reach(world.a1.mcp_config, probe)
    assert resources == {f"seer://sandboxes/{world.a}/library-docs",
                         f"seer://sessions/{world.a1.session_id}/model-info"}
    assert templates == [] and prompts == []


def test_reading_another_sandbox_or_sessions_resource_is_refused_and_says_why(world: World) -> None:
    others = [f"seer://sandboxes/{world.b}/library-docs", f"seer://sessions/{world.b1}/model-info",
              f"seer://sessions/{world.a2}/model-info", "seer://sandboxes/sb-00000000/library-docs"]

    async def probe(client: Client) -> list[str]:
        own = await client.read_resource(f"seer://sessions/{world.a1.session_id}/model-info")
        assert own[0].text == "No models are preloaded in this session."
        errors = []
        for uri in others:
            with pytest.raises(MCPError) as raised:
                await client.read_resource(uri)
            errors.append(str(raised.value))
        return errors

    for uri, error in zip(others, world.reach(world.a1.mcp_config, probe)):
        assert error.startswith(f"{uri} is out of this server's reach: it is bound to session {world.a1.session_id}")


def test_cell_tools_naming_another_session_are_refused(world: World) -> None:
    calls = [("execute_code", {"code": "print('reached')"}), ("edit_cell", {"cell_index": 0, "code": "1"}),
             ("wait_cell", {}), ("add_markdown", {"content": "reached"}), ("read_notebook", {}),
             ("interrupt_kernel", {}), ("restart_kernel", {})]

    async def probe(client: Client) -> list[str]:
        shown = {tool.name for tool in await client.list_tools()}
        assert shown >= set(TOOL_GROUPS["cells"])
        return [await refusal(client, tool, {**arguments, "session_id": other})
                for tool, arguments in calls if tool in shown for other in (world.b1, world.a2)]

    errors = world.reach(world.a1.mcp_config, probe)
    errors += world.reach(world.bound(Scope(session_id=world.a1.session_id)), probe)
    assert len(errors) == 4 * len(calls)
    for error in errors:
        assert f"this server is bound to session {world.a1.session_id}" in error and "out of its reach" in error
    untouched(world)
    assert world.runtime.run(world.runtime.manager.read_notebook(world.a2, 0, 10)).total_cells == 0


def test_leaving_session_id_out_runs_in_the_bound_session_while_others_are_open(world: World) -> None:
    async def probe(client: Client) -> Any:
        return await client.call_tool("execute_code", {"code": "print('here')"})

    assert fields_of(world.reach(world.a1.mcp_config, probe))["session_id"] == world.a1.session_id


# ----- beneath the tool list: a session's scope with every tool allowed ----------------------


def test_list_sandboxes_shows_only_its_sandbox_and_session(world: World) -> None:
    async def probe(client: Client) -> Any:
        return (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"]

    listing = world.reach(world.bound(Scope(session_id=world.a1.session_id)), probe)
    assert [(s["sandbox_id"], s["sessions"]) for s in listing] == [(world.a, [world.a1.session_id])]


def test_shell_and_file_tools_naming_another_sandbox_are_refused(world: World) -> None:
    calls = [("sandbox_exec", {"command": "echo reached > reached.txt"}), ("read_file", {"path": "x.txt"}),
             ("write_file", {"path": "reached.txt", "content": "reached"}), ("list_files", {})]

    async def probe(client: Client) -> list[str]:
        return [await refusal(client, tool, {**arguments, "sandbox_id": world.b}) for tool, arguments in calls]

    for error in world.reach(world.bound(Scope(session_id=world.a1.session_id)), probe):
        assert f"this server is bound to sandbox {world.a}; sandbox {world.b!r} is out of its reach" in error
    assert not (world.b_workspace / "reached.txt").exists()


def test_it_cannot_create_or_terminate_sandboxes_or_start_sessions(world: World) -> None:
    calls = [("create_sandbox", {}), ("terminate_sandbox", {"sandbox_id": world.b}),
             ("terminate_sandbox", {"sandbox_id": world.a}), ("start_session", {}),
             ("start_session", {"sandbox_id": world.b})]

    async def probe(client: Client) -> list[str]:
        return [await refusal(client, tool, arguments) for tool, arguments in calls]

    errors = world.reach(world.bound(Scope(session_id=world.a1.session_id)), probe)
    for error, what in zip(errors, ["create sandboxes", "terminate sandboxes", "terminate sandboxes",
                                    "start sessions", "start sessions"]):
        assert error == (f"this server is bound to session {world.a1.session_id} and cannot {what}; "
                         "the script that gave it to you does that")
    untouched(world)


def test_snapshots_are_refused(world: World) -> None:
    calls = [("snapshot_sandbox", {}), ("snapshot_sandbox", {"sandbox_id": world.b}), ("list_snapshots", {}),
             ("restore_snapshot", {"snapshot_id": "snap-0"}), ("delete_snapshot", {"snapshot_id": "snap-0"})]

    async def probe(client: Client) -> list[str]:
        return [await refusal(client, tool, arguments) for tool, arguments in calls]

    for error in world.reach(world.bound(Scope(session_id=world.a1.session_id)), probe):
        assert "snapshots; the script that gave it to you does that" in error
    assert world.runtime.manager.snapshots.list() == []


def test_another_sandboxs_interface_is_out_of_reach(world: World) -> None:
    async def probe(client: Client) -> tuple[set[str], Any, list[str]]:
        tools = {tool.name for tool in await client.list_tools()}
        listed = (await client.call_tool("list_interfaces", {})).structured_content["interfaces"]
        errors = [await refusal(client, "call_interface", {"name": "theirs", "function": "ping"}),
                  await refusal(client, "reload_interface", {"name": "theirs"}),
                  await refusal(client, "stop_interface", {"name": "theirs"}),
                  await refusal(client, "serve_interface", {"name": "mine", "code": "x = 1"})]
        return tools, listed, errors

    tools, listed, errors = world.reach(world.bound(Scope(session_id=world.a1.session_id)), probe)
    assert "theirs_ping" not in tools and listed == []
    assert errors[0] == "no interface 'theirs' is served to this server; list_interfaces shows them"
    assert [e.rsplit(" and cannot ", 1)[1].split(";")[0] for e in errors[1:]] == \
        ["reload interfaces", "stop interfaces", "serve interfaces"]
    untouched(world)


def test_ending_another_session_is_refused(world: World) -> None:
    async def probe(client: Client) -> list[str]:
        return [await refusal(client, "end_session", {"session_id": other}) for other in (world.b1, world.a2)]

    for error in world.reach(world.bound(Scope(session_id=world.a1.session_id)), probe):
        assert f"this server is bound to session {world.a1.session_id}" in error
    untouched(world)
    assert world.a2 in {s["session_id"] for s in world.runtime.manager.list_sessions()}


# ----- a sandbox's scope ----------------------------------------------------------------------


def test_an_interface_server_shows_only_that_interface_and_its_sandboxs_resource(world: World) -> None:
    async def probe(client: Client) -> tuple[set[str], set[str], str]:
        tools = {tool.name for tool in await client.list_tools()}
        resources = {str(r.uri) for r in await client.list_resources()}
        with pytest.raises(MCPError) as raised:
            await client.read_resource(f"seer://sandboxes/{world.a}/library-docs")
        return tools, resources, str(raised.value)

    tools, resources, error = world.reach(world.b_interface, probe)
    assert tools == {"theirs_ping", "call_interface", "list_interfaces"}
    assert resources == {f"seer://sandboxes/{world.b}/library-docs"}
    assert f"it is bound to sandbox {world.b}" in error


def test_a_sandbox_server_reaches_only_that_sandboxs_sessions(world: World) -> None:
    async def probe(client: Client) -> tuple[str, str, Any]:
        return (await refusal(client, "read_notebook", {"session_id": world.b1}),
                await refusal(client, "read_notebook", {}),
                await client.call_tool("read_notebook", {"session_id": world.a2}))

    other, ambiguous, own = world.reach(world.bound(Scope(sandbox_id=world.a)), probe)
    assert f"this server is bound to sandbox {world.a}; session {world.b1!r} is not one of its sessions" in other
    assert ambiguous.startswith(f"2 sessions are open in sandbox {world.a}") and world.b1 not in ambiguous
    assert not own.is_error


def test_an_interface_named_in_the_scope_but_served_by_another_sandbox_is_out_of_reach(world: World) -> None:
    async def probe(client: Client) -> tuple[set[str], Any, str]:
        return ({tool.name for tool in await client.list_tools()},
                (await client.call_tool("list_interfaces", {})).structured_content["interfaces"],
                await refusal(client, "theirs_ping", {}))

    tools, listed, error = world.reach(world.bound(Scope(sandbox_id=world.a, interfaces={"theirs"})), probe)
    assert "theirs_ping" not in tools and listed == []
    assert "Unknown tool" in error


# ----- the lists of what a bound server may do -----------------------------------------------


def public(obj: object) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")}


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[SandboxManager]:
    made = SandboxManager(Settings(state_dir=tmp_path / "state", outputs_dir=tmp_path / "outputs", _env_file=None))
    yield made
    made.store.close()


def test_every_public_manager_attribute_is_held_refused_or_deliberately_absent(manager: SandboxManager) -> None:
    assert public(manager) == HELD_TO_SCOPE | REFUSED | ABSENT
    assert not (HELD_TO_SCOPE & REFUSED or HELD_TO_SCOPE & ABSENT or REFUSED & ABSENT)
    assert public(manager.interfaces) == INTERFACES_HELD | INTERFACES_REFUSED | INTERFACES_ABSENT
    assert not (INTERFACES_HELD & INTERFACES_REFUSED or INTERFACES_HELD & INTERFACES_ABSENT
                or INTERFACES_REFUSED & INTERFACES_ABSENT)


def test_a_bound_manager_has_the_held_and_refused_operations_and_nothing_else(manager: SandboxManager) -> None:
    bound = BoundManager(manager, Scope(sandbox_id="sb-00000000"))
    assert public(bound) - {"scope"} == HELD_TO_SCOPE | REFUSED
    assert public(bound.interfaces) - {"scope"} == INTERFACES_HELD | INTERFACES_REFUSED
    for name in ABSENT:
        assert not hasattr(bound, name), name
    for name in INTERFACES_ABSENT:
        assert not hasattr(bound.interfaces, name), name
    with pytest.raises(AttributeError):
        bound.a_method_added_later  # noqa: B018
    assert isinstance(manager.interfaces, ServedInterfaces)


def test_a_scope_must_name_a_session_or_a_sandbox_that_exists(manager: SandboxManager) -> None:
    with pytest.raises(InvalidRequest, match="needs a session or a sandbox"):
        BoundManager(manager, Scope())
    with pytest.raises(NotFound, match="no session 'ses-nope'"):
        build_bound_server(manager, Scope(session_id="ses-nope"), EVERY_TOOL, "")
