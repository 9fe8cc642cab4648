"""The `seer-mcp` command: client config snippets, ls and stop."""

from __future__ import annotations

import json
import subprocess

import pytest
from fastmcp import Client

from seer_mcp.server import build_server
from seer_mcp.settings import Settings
from tests.conftest import PYTHON, open_session, sandbox_processes, server_env


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "seer_mcp", *args], env=server_env(settings), capture_output=True,
                          text=True, timeout=120)


def test_config_claude_code_prints_the_add_command(settings: Settings) -> None:
    out = run_cli(settings, "config", "claude-code")
    assert out.returncode == 0
    assert out.stdout.startswith("claude mcp add seer -- ")
    assert out.stdout.rstrip().endswith("serve")


def test_config_claude_desktop_prints_a_server_entry(settings: Settings) -> None:
    out = run_cli(settings, "config", "claude-desktop")
    entry = json.loads(out.stdout)["mcpServers"]["seer"]
    assert entry["args"][-1] == "serve"


def test_version_is_printed(settings: Settings) -> None:
    assert "seer-mcp" in run_cli(settings, "--version").stdout


@pytest.mark.slow
async def test_ls_and_stop_cover_sandboxes_a_server_left_running(settings: Settings) -> None:
    kept = settings.model_copy(update={"terminate_on_exit": False})
    async with Client(build_server(kept)) as client:
        sandbox_id, _ = await open_session(client, name="left-over")
    assert sandbox_processes(sandbox_id)
    listing = run_cli(settings, "ls", "--json")
    rows = json.loads(listing.stdout)
    assert [(r["sandbox_id"], r["name"], r["status"]) for r in rows] == [(sandbox_id, "left-over", "running")]
    table = run_cli(settings, "ls")
    assert sandbox_id in table.stdout and "left-over" in table.stdout
    stopped = run_cli(settings, "stop", "--all")
    assert stopped.returncode == 0, stopped.stderr
    assert sandbox_processes(sandbox_id) == []
    assert json.loads(run_cli(settings, "ls", "--json").stdout) == []


def test_stop_without_ids_explains_itself(settings: Settings) -> None:
    out = run_cli(settings, "stop")
    assert out.returncode == 2
    assert "--all" in out.stderr
