"""One list of tool names (`seer_mcp.tools.groups`): the server, the groups, bound servers and the README agree."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from fastmcp import Client

from seer_mcp.api import sessions
from seer_mcp.experiments.config import KNOWN_TOOLS, expand_tools
from seer_mcp.manager.facade import SandboxManager
from seer_mcp.manager.scope import Scope
from seer_mcp.server.app import build_bound_server
from seer_mcp.settings import Settings
from seer_mcp.tools.groups import ALL, GROUPS, INTERFACE_TOOLS, TOOL_GROUPS, TOOL_NAMES
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
# How the README's tables show interface tools, which have no fixed names.
INTERFACE_TOOL_ROW = "`<name>_<function>`"
INTERFACE_TOOL_CELL = "`<interface>_<function>`"


def table_after(header: str) -> list[list[str]]:
    """The cells of each row of the README table whose header line is `header`."""
    lines = README.split("\n")
    start = lines.index(header) + 2  # past the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def names_in(cell: str) -> list[str]:
    """The tool (or group) names a table cell gives in backticks; other code in it is not a name."""
    return [code for code in re.findall(r"`([^`]+)`", cell) if code.isidentifier()]


async def listed(client: Client) -> set[str]:
    return {tool.name for tool in await client.list_tools()}


# ----- the server and the groups ----------------------------------------------------------------


async def test_the_server_registers_exactly_the_named_tools(client: Client) -> None:
    # No interface is served, so no `<interface>_<function>` tool is listed.
    assert await listed(client) == TOOL_NAMES


def test_every_tool_is_in_exactly_one_group() -> None:
    placed = [tool for tools in GROUPS.values() for tool in tools if tool != INTERFACE_TOOLS]
    assert sorted(placed) == sorted(TOOL_NAMES)


def test_groups_name_only_registered_tools_and_the_interface_marker() -> None:
    for group, tools in TOOL_GROUPS.items():
        assert set(tools) <= TOOL_NAMES | {INTERFACE_TOOLS}, group


def test_all_is_every_group_in_order() -> None:
    assert TOOL_GROUPS[ALL] == tuple(tool for tools in GROUPS.values() for tool in tools)
    assert list(TOOL_GROUPS) == [*GROUPS, ALL]


def test_the_config_takes_its_names_from_the_groups() -> None:
    assert KNOWN_TOOLS == TOOL_NAMES
    assert expand_tools([ALL]) == TOOL_NAMES | {INTERFACE_TOOLS}


def test_an_agent_given_cells_can_wait_for_a_running_cell() -> None:
    assert "wait_cell" in expand_tools(["cells"])


def test_the_groups_import_without_fastmcp() -> None:
    code = ("import sys, seer_mcp.tools.groups, seer_mcp.experiments.config; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastmcp', 'mcp')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


# ----- bound servers -----------------------------------------------------------------------------


@pytest.fixture
async def manager(settings: Settings) -> AsyncIterator[SandboxManager]:
    async with SandboxManager(settings) as started:
        yield started


# Bound to a sandbox id no sandbox has: listing tools reaches no sandbox.
SCOPE = Scope(sandbox_id="sb-00000000")


async def test_a_bound_server_allowed_everything_offers_exactly_the_named_tools(manager: SandboxManager) -> None:
    async with Client(build_bound_server(manager, SCOPE, TOOL_NAMES | {INTERFACE_TOOLS}, "")) as client:
        assert await listed(client) == TOOL_NAMES


@pytest.mark.parametrize("allowed", [sessions._NOTEBOOK_TOOLS, sessions._CLI_TOOLS], ids=["notebook", "cli"])
async def test_a_session_server_offers_every_tool_it_allows(manager: SandboxManager, allowed: set[str]) -> None:
    # A name outside the groups would be dropped from the bound server without a word.
    assert allowed <= TOOL_NAMES
    async with Client(build_bound_server(manager, SCOPE, allowed, "")) as client:
        assert await listed(client) == allowed


def test_a_notebook_session_server_offers_wait_cell() -> None:
    assert "wait_cell" in sessions._NOTEBOOK_TOOLS


def test_a_cli_session_server_offers_wait_cell() -> None:
    assert "wait_cell" in sessions._CLI_TOOLS


# ----- the README ----------------------------------------------------------------------------------


def test_the_readmes_tool_table_lists_exactly_the_named_tools() -> None:
    firsts = [row[0] for row in table_after("| tool | parameters | what it does |")]
    assert INTERFACE_TOOL_ROW in firsts
    named = [name for cell in firsts if cell != INTERFACE_TOOL_ROW for name in names_in(cell)]
    assert sorted(named) == sorted(TOOL_NAMES)


def test_the_readmes_group_table_is_the_groups() -> None:
    rows = {names_in(group)[0]: tools for group, tools in table_after("| group | tools |")}
    assert list(rows) == [*GROUPS, ALL]
    assert rows.pop(ALL) == "every group above"
    shown = {group: [*names_in(tools), *([INTERFACE_TOOLS] if INTERFACE_TOOL_CELL in tools else [])]
             for group, tools in rows.items()}
    assert shown == {group: list(tools) for group, tools in GROUPS.items()}
