"""Which tools the server has, and the group each is in: the one list of tool names.

The tool modules (`sandboxes`, `cells`, `files`, `interfaces`, `snapshots`) register
these tools; a config's `[agent].tools` names them and their groups
(`seer_mcp.experiments.config` expands them); the Python API's bound servers allow
groups of them; the README's tables list them. tests/tools/test_tool_names.py checks
that the server registers exactly `TOOL_NAMES`, that every one is in exactly one
group, and that the README agrees, so a tool added in one place fails there until it
is in all of them.

Interface tools (`<interface>_<function>`) exist only while their interfaces run, so a
group names them by the marker `INTERFACE_TOOLS`, which the server expands at run time.

Plain data, with no fastmcp import: configs are checked before any server is built.
"""

from __future__ import annotations

__all__ = ["ALL", "GROUPS", "INTERFACE_TOOLS", "TOOL_GROUPS", "TOOL_NAMES"]

# Stands for every `<interface>_<function>` tool of the interfaces served with expose_as="mcp".
INTERFACE_TOOLS = "interfaces:*"

# Every tool the server registers, each in exactly one group.
GROUPS: dict[str, tuple[str, ...]] = {
    "sandboxes": ("create_sandbox", "list_sandboxes", "terminate_sandbox"),
    "sessions": ("start_session", "end_session"),
    # wait_cell goes with execute_code: a cell that outlasts the call comes back "running", and only
    # wait_cell shows the rest of it.
    "cells": ("execute_code", "edit_cell", "wait_cell", "add_markdown", "read_notebook", "interrupt_kernel",
              "restart_kernel"),
    "files": ("sandbox_exec", "read_file", "write_file", "list_files"),
    "interfaces": ("call_interface", "list_interfaces", INTERFACE_TOOLS),
    "interface_admin": ("serve_interface", "reload_interface", "stop_interface"),
    "snapshots": ("snapshot_sandbox", "list_snapshots", "restore_snapshot", "delete_snapshot"),
}

ALL = "all"  # the group of every group
TOOL_GROUPS: dict[str, tuple[str, ...]] = {**GROUPS, ALL: tuple(t for tools in GROUPS.values() for t in tools)}

# The concrete names: what the server registers before any interface is served.
TOOL_NAMES: frozenset[str] = frozenset(t for tools in GROUPS.values() for t in tools if t != INTERFACE_TOOLS)
