"""Fixtures shared by the suite: throwaway settings, a server, and MCP clients."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import psutil
import pytest
from fastmcp import Client

from seer_mcp.server import build_server
from seer_mcp.settings import Settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", outputs_dir=tmp_path / "outputs", cell_timeout=60,
                    _env_file=None)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with Client(build_server(settings)) as mcp_client:
        yield mcp_client


@pytest.fixture(params=["legacy", "auto"])
async def any_client(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Client]:
    """The same server through the handshake-era protocol and through the current one."""
    async with Client(build_server(settings), mode=request.param) as mcp_client:
        yield mcp_client


async def open_session(client: Client, **sandbox_args: Any) -> tuple[str, str]:
    sandbox = await client.call_tool("create_sandbox", sandbox_args)
    sandbox_id = sandbox.structured_content["sandbox_id"]
    session = await client.call_tool("start_session", {"sandbox_id": sandbox_id})
    return sandbox_id, session.structured_content["session_id"]


def text_of(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def sandbox_processes(marker: str) -> list[psutil.Process]:
    """Every process whose command line mentions `marker` (a sandbox's directory or id)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid != os.getpid() and any(marker in arg for arg in (proc.info.get("cmdline") or [])):
            found.append(proc)
    return found


def server_env(settings: Settings) -> dict[str, str]:
    """Environment for a seer-mcp server subprocess that uses the test's settings."""
    env = dict(os.environ)
    env.update({"SEER_STATE_DIR": str(settings.state_dir), "SEER_OUTPUTS_DIR": str(settings.outputs_dir),
                "PYTHONUNBUFFERED": "1"})
    return env


PYTHON = sys.executable
