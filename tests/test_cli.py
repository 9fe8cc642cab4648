"""The `seer-mcp` command: client config snippets, ls and stop."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
from fastmcp import Client

from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.conftest import PYTHON, REPO, open_session, sandbox_processes, server_env


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


_INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "fresh-shell", "version": "1"}}})


def _answers_initialize(command: list[str], settings: Settings, env: dict[str, str] | None = None) -> str:
    """Starts `command` as a client would, from a bare environment (no venv on PATH), and sends it initialize."""
    fresh = {"PATH": "/usr/bin:/bin", "HOME": str(settings.state_dir.parent), "SEER_STATE_DIR": str(settings.state_dir),
             **(env or {})}
    done = subprocess.run(command, input=_INITIALIZE + "\n", env=fresh, capture_output=True, text=True, timeout=120,
                          cwd="/")
    return done.stdout


@pytest.mark.slow
def test_the_printed_claude_code_command_starts_the_server_from_a_fresh_shell(settings: Settings) -> None:
    line = run_cli(settings, "config", "claude-code").stdout.strip()
    command = shlex.split(line.split(" -- ", 1)[1])
    assert Path(command[0]).is_absolute()
    reply = json.loads(_answers_initialize(command, settings).splitlines()[0])
    assert reply["result"]["serverInfo"]["name"] == "seer-mcp"


@pytest.mark.slow
def test_the_printed_claude_desktop_entry_starts_the_server_from_a_fresh_shell(settings: Settings) -> None:
    entry = json.loads(run_cli(settings, "config", "claude-desktop").stdout)["mcpServers"]["seer"]
    assert Path(entry["command"]).is_absolute() and Path(entry["env"]["SEER_OUTPUTS_DIR"]).is_absolute()
    reply = json.loads(_answers_initialize([entry["command"], *entry["args"]], settings, entry["env"]).splitlines()[0])
    assert reply["result"]["serverInfo"]["name"] == "seer-mcp"


def test_the_readme_shows_the_same_set_up_as_seer_mcp_config() -> None:
    readme = (REPO / "README.md").read_text()
    assert "seer-mcp config claude-code" in readme and "seer-mcp config claude-desktop" in readme
    assert "claude mcp add seer -- seer-mcp serve" not in readme  # fails where the venv is not on PATH
    assert "claude mcp add seer -- \"$PWD/.venv/bin/seer-mcp\" serve" in readme


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
