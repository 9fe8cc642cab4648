"""The `seer-mcp` command: client config snippets, ls and stop, and how it reports failures."""

from __future__ import annotations

import json
import shlex
import subprocess
import textwrap
from pathlib import Path

import pytest
from fastmcp import Client

from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.conftest import PYTHON, REPO, open_session, sandbox_processes, server_env


def run_cli(settings: Settings, *args: str, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "seer_mcp", *args], env=env or server_env(settings), capture_output=True,
                          text=True, timeout=120, cwd=cwd)


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


@pytest.mark.slow
async def test_ls_shows_a_sandbox_whose_agent_died_as_gone_not_running(settings: Settings) -> None:
    kept = settings.model_copy(update={"terminate_on_exit": False})
    async with Client(build_server(kept)) as client:
        sandbox_id, _ = await open_session(client, name="orphan")
    for process in sandbox_processes(sandbox_id):  # the agent dies; the record still says running
        process.kill()
    listing = run_cli(settings, "ls", "--json")
    assert listing.returncode == 0 and json.loads(listing.stdout) == []
    assert "1 sandbox(es) recorded as running have lost their agent" in listing.stderr
    rows = json.loads(run_cli(settings, "ls", "--all", "--json").stdout)
    assert [(r["sandbox_id"], r["status"]) for r in rows] == [(sandbox_id, "gone")]
    assert "its agent is gone" in rows[0]["detail"]
    # ls changed nothing; the next server cleans the record up.
    assert run_cli(settings, "stop", "--all").returncode == 0
    rows = json.loads(run_cli(settings, "ls", "--all", "--json").stdout)
    assert [(r["sandbox_id"], r["status"]) for r in rows] == [(sandbox_id, "terminated")]


# ----- known failures: one line on stderr, the traceback only with --log-level debug -----------------------------

def experiment(tmp_path: Path, sandbox: str) -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(textwrap.dedent("""
        [experiment]
        name = "failing"
        task = "Say hello."
        [sandbox]
        {sandbox}
        [session]
        [agent]
        tools = ["cells"]
        provider = "anthropic"
        model = "fake-model"
    """).format(sandbox=sandbox))
    return path


def without_modal_credentials(settings: Settings, home: Path) -> dict[str, str]:
    home.mkdir(exist_ok=True)  # an empty home: no ~/.modal.toml
    env = {k: v for k, v in server_env(settings).items()
           if k not in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_CONFIG_PATH")}
    # The model is never reached: the run fails before its agent has tools to call.
    return {**env, "HOME": str(home), "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}


NO_MODAL = ("seer-mcp run: no Modal credentials: run `modal token new` (or set MODAL_TOKEN_ID and "
            "MODAL_TOKEN_SECRET) and create the sandbox again")


@pytest.mark.slow
@pytest.mark.parametrize("dry_run", [["--dry-run"], []], ids=["dry-run", "run"])
def test_run_without_modal_credentials_says_so_in_one_line(settings: Settings, tmp_path: Path,
                                                            dry_run: list[str]) -> None:
    config = experiment(tmp_path, 'backend = "modal"')
    done = run_cli(settings, "run", str(config), *dry_run, env=without_modal_credentials(settings, tmp_path / "home"))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [NO_MODAL]


@pytest.mark.slow
@pytest.mark.parametrize("dry_run", [["--dry-run"], []], ids=["dry-run", "run"])
def test_run_with_a_secret_that_is_not_set_says_so_in_one_line(settings: Settings, tmp_path: Path,
                                                                dry_run: list[str]) -> None:
    config = experiment(tmp_path, 'secrets = ["ACME_UNSET_TOKEN"]')
    env = {k: v for k, v in without_modal_credentials(settings, tmp_path / "home").items() if k != "ACME_UNSET_TOKEN"}
    done = run_cli(settings, "run", str(config), *dry_run, env=env, cwd=tmp_path)  # cwd: no .env that has it
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        ("seer-mcp run: secrets ['ACME_UNSET_TOKEN'] are not set in this server's environment or .env; set them "
         "there (a local sandbox takes secrets from the server's environment)")]
    assert json.loads(run_cli(settings, "ls", "--all", "--json").stdout) == []  # nothing was left behind


@pytest.mark.slow
def test_log_level_debug_adds_the_traceback(settings: Settings, tmp_path: Path) -> None:
    config = experiment(tmp_path, 'backend = "modal"')
    done = run_cli(settings, "run", str(config), "--dry-run", "--log-level", "debug",
                   env=without_modal_credentials(settings, tmp_path / "home"))
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and "SandboxStartError" in done.stderr
    assert done.stderr.splitlines()[-1] == NO_MODAL


def test_a_config_that_fails_validation_is_one_line(settings: Settings, tmp_path: Path) -> None:
    config = experiment(tmp_path, 'gpus = 2')
    for command in (["run", str(config)], ["run", str(config), "--dry-run"], ["serve", "--experiment", str(config)]):
        done = run_cli(settings, *command)
        lines = done.stderr.splitlines()
        assert done.returncode == 2 and done.stdout == ""
        assert len(lines) == 1 and lines[0].startswith(f"seer-mcp {command[0]}: {config}: sandbox.gpus: unknown key")


def test_a_missing_config_file_is_one_line(settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    done = run_cli(settings, "run", str(missing))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"seer-mcp run: {missing}: no such config file ({missing})"]


def test_a_bad_argument_is_one_line(settings: Settings) -> None:
    for args, where in ((["run"], "seer-mcp run"), (["ls", "--bogus"], "seer-mcp"),
                        (["--log-level", "loud", "ls"], "seer-mcp")):
        done = run_cli(settings, *args)
        assert done.returncode == 2, args
        assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(f"{where}: "), done.stderr


def test_every_command_takes_log_level_before_or_after(settings: Settings) -> None:
    for args in (["--log-level", "debug", "ls"], ["ls", "--log-level", "DEBUG"], ["config", "claude-code",
                                                                                   "--log-level", "warning"]):
        assert run_cli(settings, *args).returncode == 0, args
