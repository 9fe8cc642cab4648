"""The server over real transports: a stdio subprocess with the official MCP SDK client, and HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import AsyncIterator, Iterator

import httpx
import mcp_types
import nbformat
import psutil
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from seer_mcp.settings import Settings
from tests.conftest import (PYTHON, fields_of, free_port, output_of, sandbox_processes, server_env,
                            start_http_server, stop_http_server, text_of)

pytestmark = pytest.mark.slow


@contextlib.asynccontextmanager
async def stdio_session(settings: Settings, stderr_path: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=PYTHON, args=["-m", "seer_mcp", "serve"], env=server_env(settings))
    with open(stderr_path, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def test_cells_run_over_stdio_with_the_official_sdk_client(settings: Settings, tmp_path: Path) -> None:
    async with stdio_session(settings, tmp_path / "server.err") as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        assert {"create_sandbox", "execute_code", "terminate_sandbox"} <= tools
        created = await session.call_tool("create_sandbox", {})
        sandbox_id = created.structured_content["sandbox_id"]
        await session.call_tool("start_session", {"sandbox_id": sandbox_id})
        await session.call_tool("execute_code", {"code": "total = sum(range(10))"})
        printed = await session.call_tool("execute_code", {"code": "print(total)"})
        assert output_of(printed).strip() == "45"
        assert printed.structured_content is None and [block.type for block in printed.content] == ["text"]
        plot = await session.call_tool("execute_code", {
            "code": "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"})
        assert any(isinstance(block, mcp_types.ImageContent) for block in plot.content)
        assert "[image 1: image/png, attached below]" in text_of(plot)
        failed = await session.call_tool("execute_code", {"code": "raise ValueError('bad value')"})
        assert failed.is_error
        assert failed.structured_content is None
        assert fields_of(failed)["error"]["ename"] == "ValueError"
        assert "ValueError: bad value" in output_of(failed)
        notebook = nbformat.read(fields_of(printed)["notebook_copy"], as_version=4)
        nbformat.validate(notebook)
        assert len(notebook.cells) == 4
    # The server exited when its stdin closed, and took its sandbox with it.
    assert sandbox_processes(sandbox_id) == []


async def test_stdout_carries_nothing_but_the_protocol(settings: Settings, tmp_path: Path) -> None:
    async with stdio_session(settings, tmp_path / "server.err") as session:
        await session.call_tool("create_sandbox", {})
        result = await session.call_tool("start_session", {})
        assert not result.is_error  # a stray print on stdout would have broken the JSON-RPC stream
        await session.call_tool("execute_code", {"code": "print('only in the result')"})


async def test_sandboxes_survive_a_server_sigkill_and_are_reattached(settings: Settings, tmp_path: Path) -> None:
    async with stdio_session(settings, tmp_path / "first.err") as session:
        created = await session.call_tool("create_sandbox", {})
        sandbox_id = created.structured_content["sandbox_id"]
        started = await session.call_tool("start_session", {})
        session_id = started.structured_content["session_id"]
        await session.call_tool("execute_code", {"code": "survivor = 'yes'"})
        servers = [c for c in psutil.Process().children() if "seer_mcp" in c.cmdline()]
        assert len(servers) == 1
        servers[0].send_signal(signal.SIGKILL)
        servers[0].wait(10)
    assert sandbox_processes(sandbox_id), "the sandbox outlives its server's SIGKILL"

    async with stdio_session(settings, tmp_path / "second.err") as again:
        listing = (await again.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
        assert [s["sandbox_id"] for s in listing] == [sandbox_id]
        result = await again.call_tool("execute_code", {"session_id": session_id, "code": "print(survivor)"})
        assert output_of(result).strip() == "yes"
    assert sandbox_processes(sandbox_id) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_a_signal_stops_the_server_cleanly_with_stdin_still_open(
        settings: Settings, tmp_path: Path, signum: int) -> None:
    # Ctrl-C in a terminal, or an MCP client's SIGTERM: the server must exit promptly even though
    # its stdin stays open, and terminate its local sandboxes on the way out.
    async with stdio_session(settings, tmp_path / "server.err") as session:
        created = await session.call_tool("create_sandbox", {})
        sandbox_id = created.structured_content["sandbox_id"]
        await session.call_tool("start_session", {})
        assert sandbox_processes(sandbox_id)
        servers = [c for c in psutil.Process().children() if "seer_mcp" in c.cmdline()]
        assert len(servers) == 1
        servers[0].send_signal(signum)
        servers[0].wait(20)  # raises if it is still running (the exit code may be reaped by the client)
    assert sandbox_processes(sandbox_id) == []
    assert "stopping" in (tmp_path / "server.err").read_text()


async def test_a_sandbox_past_its_lifetime_is_reaped_when_the_server_restarts(
        settings: Settings, tmp_path: Path) -> None:
    async with stdio_session(settings, tmp_path / "first.err") as session:
        created = await session.call_tool("create_sandbox", {"timeout": 4})
        sandbox_id = created.structured_content["sandbox_id"]
        servers = [c for c in psutil.Process().children() if "seer_mcp" in c.cmdline()]
        servers[0].send_signal(signal.SIGKILL)
        servers[0].wait(10)
    # A sandbox's agent stops itself at its lifetime (tests/test_lifetime.py); a frozen one cannot, so here only
    # the next server can end it.
    agent = next(p for p in sandbox_processes(sandbox_id) if "seer_mcp.agent" in p.cmdline())
    agent.suspend()  # SIGSTOP
    await asyncio.sleep(4.5)
    assert sandbox_processes(sandbox_id)
    async with stdio_session(settings, tmp_path / "second.err") as again:
        listing = (await again.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
        assert listing == []
        assert sandbox_processes(sandbox_id) == []


# ----- HTTP -----------------------------------------------------------------

@pytest.fixture
def http_server(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, str]]:
    port = free_port()
    env = server_env(settings)
    env["SEER_HTTP_TOKEN"] = "test-token-" + os.urandom(8).hex()
    proc = start_http_server(env, port, tmp_path / "http.err")
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        yield url, env["SEER_HTTP_TOKEN"]
    finally:
        stop_http_server(proc)


def test_http_without_a_token_is_refused(http_server: tuple[str, str]) -> None:
    url, _ = http_server
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(url, json=body, headers=headers).status_code == 401
    wrong = {**headers, "Authorization": "Bearer not-the-token"}
    assert httpx.post(url, json=body, headers=wrong).status_code == 401


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_http_with_the_token_runs_cells(http_server: tuple[str, str], mode: str) -> None:
    url, token = http_server
    async with Client(StreamableHttpTransport(url, auth=token), mode=mode) as client:
        await client.call_tool("create_sandbox", {})
        await client.call_tool("start_session", {})
        result = await client.call_tool("execute_code", {"code": "print(2 ** 10)"})
        assert result.structured_content is None
        assert output_of(result).strip() == "1024" and result.content[0].text == text_of(result)
        assert fields_of(result)["status"] == "ok"
        sandbox_id = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"][0]["sandbox_id"]
        await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox_id})


def test_the_generated_http_token_is_stored_privately(settings: Settings) -> None:
    from seer_mcp.server.auth import http_token

    token = http_token(settings)
    assert http_token(settings) == token
    assert oct(settings.token_path.stat().st_mode & 0o777) == "0o600"


async def test_stdio_server_process_is_not_left_behind(settings: Settings, tmp_path: Path) -> None:
    async with stdio_session(settings, tmp_path / "server.err") as session:
        await session.call_tool("list_sandboxes", {})
    await asyncio.sleep(0.5)
    left = [p for p in sandbox_processes("seer_mcp") if str(settings.state_dir) in
            p.environ().get("SEER_STATE_DIR", "")]
    assert left == []
    assert sys.executable  # the suite's own interpreter is the one that served
