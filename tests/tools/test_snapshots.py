"""Snapshots outlast the server, and bad ids are named."""

from __future__ import annotations

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.conftest import open_session, output_of

pytestmark = pytest.mark.slow


async def test_a_snapshot_survives_a_server_restart(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        await open_session(client)
        await client.call_tool("execute_code", {"code": "open('kept.txt', 'w').write('still here')\nz = 3"})
        snapshot = (await client.call_tool("snapshot_sandbox", {"label": "before restart"})).structured_content
    async with Client(build_server(settings)) as client:
        listed = (await client.call_tool("list_snapshots", {})).structured_content["snapshots"]
        assert [s["snapshot_id"] for s in listed] == [snapshot["snapshot_id"]]
        assert listed[0]["label"] == "before restart" and listed[0]["notebooks"] == ["notebooks/notebook.ipynb"]
        restored = (await client.call_tool("restore_snapshot", {"snapshot_id": snapshot["snapshot_id"],
                                                                "replay": True})).structured_content
        assert restored["replayed"][0]["failed"] == []
        result = await client.call_tool("execute_code", {"code": "print(z, open('kept.txt').read())",
                                                         "session_id": restored["replayed"][0]["session_id"]})
        assert output_of(result).strip() == "3 still here"


async def test_unknown_snapshots_are_named(client: Client) -> None:
    with pytest.raises(ToolError, match="no snapshot 'snap-nope'; list_snapshots"):
        await client.call_tool("restore_snapshot", {"snapshot_id": "snap-nope"})
    with pytest.raises(ToolError, match="no snapshot 'snap-nope'"):
        await client.call_tool("delete_snapshot", {"snapshot_id": "snap-nope"})
