"""The sandbox agent on its own: its socket, its token, its kernels' transport."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest
from fastmcp import Client

from tests.conftest import fields_of, open_session, output_of

pytestmark = pytest.mark.slow


async def _agent(client: Client) -> tuple[Path, Path]:
    sandbox = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"][0]
    root = Path(sandbox["workspace_path"]).parent
    sockets = list(root.glob("run/agent.sock")) or list(Path("/tmp").glob(f"seer-{sandbox['sandbox_id']}-*/agent.sock"))
    return root, sockets[0]


async def test_the_agent_socket_is_private(client: Client) -> None:
    await open_session(client)
    _, sock = await _agent(client)
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600


async def test_the_agent_refuses_requests_without_its_token(client: Client) -> None:
    await open_session(client)
    _, sock = await _agent(client)
    transport = httpx.HTTPTransport(uds=str(sock))
    with httpx.Client(transport=transport, base_url="http://agent") as http:
        assert http.get("/health").status_code == 401
        assert http.post("/exec", json={"command": "id"}, headers={"Authorization": "Bearer guess"}).status_code == 401


async def test_kernels_use_ipc_transport(client: Client) -> None:
    await open_session(client)
    _, sock = await _agent(client)
    connection_files = list((sock.parent / "kc").glob("kernel-*.json"))  # read-only to the sandbox
    assert connection_files
    for path in connection_files:
        info = json.loads(path.read_text())
        assert info["transport"] == "ipc"


async def test_the_agent_token_is_not_in_the_kernel_environment(client: Client) -> None:
    await open_session(client)
    result = await client.call_tool("execute_code", {"code": "import os; print('SEER_AGENT_TOKEN' in os.environ)"})
    assert output_of(result).strip() == "False"


async def test_the_notebook_is_never_half_written(client: Client) -> None:
    """Saves go through a temporary file and a rename: no temp file is left, the file always parses."""
    await open_session(client)
    for i in range(5):
        result = await client.call_tool("execute_code", {"code": f"print({i})"})
    notebook = Path(fields_of(result)["notebook_copy"])
    json.loads(notebook.read_text())
    assert [p.name for p in notebook.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert os.path.getsize(notebook) > 0
