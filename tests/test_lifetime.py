"""A sandbox's lifetime is its own: it ends on terminate, at its idle timeout or lifetime (kept by the sandbox
itself, with no server running), and when the server stops only if the setting says so, whatever signal a
service manager sends. A later server on the same state dir re-attaches to the live ones."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from seer_mcp.settings import Settings
from tests.conftest import fields_of, free_port, output_of, sandbox_processes, server_env, start_http_server
from tests.test_transports import stdio_session

pytestmark = pytest.mark.slow


def _kept(settings: Settings) -> Settings:
    """The default: sandboxes outlive the server that made them."""
    return settings.model_copy(update={"terminate_on_exit": False})


def _wait_gone(marker: str, within: float) -> list[psutil.Process]:
    deadline = time.monotonic() + within
    while (left := sandbox_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


async def test_a_sandbox_outlives_a_server_per_call(settings: Settings, tmp_path: Path) -> None:
    # How langchain's get_tools() and the Inspector CLI work: every call is a new `seer-mcp serve`.
    kept = _kept(settings)
    async with stdio_session(kept, tmp_path / "call1.err") as first:
        sandbox_id = (await first.call_tool("create_sandbox", {})).structured_content["sandbox_id"]
    async with stdio_session(kept, tmp_path / "call2.err") as second:
        await second.call_tool("start_session", {"sandbox_id": sandbox_id})
        await second.call_tool("execute_code", {"code": "kept = 'across servers'"})
    async with stdio_session(kept, tmp_path / "call3.err") as third:
        printed = await third.call_tool("execute_code", {"code": "print(kept)"})
        assert not printed.is_error and printed.content[0].text.startswith("across servers\n")
        await third.call_tool("terminate_sandbox", {"sandbox_id": sandbox_id})
    assert sandbox_processes(sandbox_id) == []


async def test_a_sandbox_stops_itself_at_its_idle_timeout_with_no_server(settings: Settings,
                                                                         tmp_path: Path) -> None:
    async with stdio_session(_kept(settings), tmp_path / "server.err") as session:
        created = await session.call_tool("create_sandbox", {"idle_timeout": 3})
        sandbox_id = created.structured_content["sandbox_id"]
        await session.call_tool("start_session", {})
        servers = [c for c in psutil.Process().children() if "seer_mcp" in c.cmdline()]
        servers[0].send_signal(signal.SIGKILL)  # no server will be there to enforce anything
        servers[0].wait(10)
    assert sandbox_processes(sandbox_id), "the sandbox should outlive a killed server until its idle timeout"
    assert _wait_gone(sandbox_id, within=20) == []
    ended = list(settings.state_dir.rglob("ended"))
    assert [p.read_text() for p in ended] == ["the sandbox stopped itself: idle for 3 s\n"]


async def test_a_cell_left_running_keeps_its_sandbox_from_the_idle_timeout(settings: Settings,
                                                                          tmp_path: Path) -> None:
    impatient = _kept(settings).model_copy(update={"result_wait": 1.0})
    async with stdio_session(impatient, tmp_path / "server.err") as session:
        await session.call_tool("create_sandbox", {"idle_timeout": 2})
        await session.call_tool("start_session", {})
        started = await session.call_tool("execute_code", {"code": "import time; time.sleep(5); print('made it')"})
        assert started.meta["seer"]["status"] == "running"
        await asyncio.sleep(4.5)  # idle by the clock, but the cell is working
        result = await session.call_tool("wait_cell", {})
        assert result.content[0].text.startswith("made it\n")
        await session.call_tool("terminate_sandbox", {})


@pytest.mark.parametrize("terminate_on_exit", [True, False], ids=["terminates", "keeps"])
async def test_sigterm_stops_an_http_server_cleanly(settings: Settings, tmp_path: Path,
                                                    terminate_on_exit: bool) -> None:
    # How systemd, Docker and Kubernetes stop a daemon.
    chosen = settings.model_copy(update={"terminate_on_exit": terminate_on_exit})
    port = free_port()
    env = {**server_env(chosen), "SEER_HTTP_TOKEN": "lifetime-token", "SEER_HTTP_PORT": str(port)}
    url = f"http://127.0.0.1:{port}/mcp"

    def serve(name: str) -> subprocess.Popen[bytes]:
        return start_http_server(env, port, tmp_path / name)

    def client() -> Client:
        return Client(StreamableHttpTransport(url, headers={"Authorization": "Bearer lifetime-token"}))

    server = serve("first.err")
    async with client() as mcp:
        sandbox_id = (await mcp.call_tool("create_sandbox", {})).structured_content["sandbox_id"]
        await mcp.call_tool("start_session", {})
        await mcp.call_tool("execute_code", {"code": "survivor = 41 + 1"})
    server.send_signal(signal.SIGTERM)
    assert server.wait(30) == 0
    if terminate_on_exit:
        assert _wait_gone(sandbox_id, within=5) == []
        return
    assert sandbox_processes(sandbox_id)
    again = serve("second.err")
    try:
        async with client() as mcp:
            printed = await mcp.call_tool("execute_code", {"code": "print(survivor)"})
            assert output_of(printed) == "42" and fields_of(printed)["status"] == "ok"
            await mcp.call_tool("terminate_sandbox", {"sandbox_id": sandbox_id})
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(30)
