"""`seer-mcp run CONFIG`: the config's agent on its task, through `serve --experiment`, which the run owns.

However the run ends (the agent's answer, its failure, Ctrl-C, SIGTERM) and whichever provider's client
connected, `seer-mcp ls` shows nothing running after it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from seer_mcp.manager.state import StateStore
from tests.conftest import PYTHON, REPO
from tests.harness.conftest import Delayed, Failure, FakeMessagesAPI, message, text, tool_use
from tests.harness.test_claude_cli import _cli_runs
from tests.interop.clients import claude_env

pytestmark = pytest.mark.slow


def config(tmp_path: Path, provider: str = "anthropic") -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(textwrap.dedent(f"""
        [experiment]
        name = "run-test"
        task = "Compute six times seven in the notebook and report it."
        [sandbox]
        [session]
        name = "work"
        [agent]
        tools = ["cells"]
        provider = "{provider}"
        model = "{'claude-sonnet-5-5' if provider == 'claude' else 'fake-model'}"
    """))
    return path


def env_for(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "SEER_STATE_DIR": str(tmp_path / "state"), "SEER_OUTPUTS_DIR": str(tmp_path / "out")}


def sandboxes(tmp_path: Path) -> list[tuple[str, str]]:
    store = StateStore(tmp_path / "state" / "state.sqlite")
    try:
        return [(r.sandbox_id, r.status) for r in store.sandboxes()]
    finally:
        store.close()


def running_sandboxes(tmp_path: Path) -> list[dict[str, object]]:
    """What `seer-mcp ls --json` lists as running on the test's state dir."""
    listing = subprocess.run([PYTHON, "-m", "seer_mcp", "ls", "--json"], capture_output=True, text=True,
                             env=env_for(tmp_path), timeout=60, cwd=REPO, check=False)
    assert listing.returncode == 0, listing.stderr
    return json.loads(listing.stdout or "[]")


def start_run(tmp_path: Path, env: dict[str, str] | None = None, provider: str = "anthropic") -> subprocess.Popen[str]:
    return subprocess.Popen([PYTHON, "-m", "seer_mcp", "run", str(config(tmp_path, provider))], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or env_for(tmp_path), cwd=REPO)


def test_run_drives_the_agent_through_the_experiment_server(fake_api: FakeMessagesAPI, tmp_path: Path) -> None:
    fake_api.script = [message(tool_use("execute_code", {"code": "print(6 * 7)"})),
                       message(text("The answer is 42."))]
    done = subprocess.run([PYTHON, "-m", "seer_mcp", "run", str(config(tmp_path))], capture_output=True, text=True,
                          env=env_for(tmp_path), timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "The answer is 42." in done.stdout
    tools = {tool["name"] for tool in fake_api.requests[0]["tools"]}
    assert "execute_code" in tools and "create_sandbox" not in tools
    assert "42" in str(fake_api.tool_results(1))
    transcripts = list((tmp_path / "out" / "transcripts").glob("*.jsonl"))
    assert len(transcripts) == 1 and "The answer is 42." in transcripts[0].read_text()
    assert [status for _, status in sandboxes(tmp_path)] == ["terminated"]
    assert running_sandboxes(tmp_path) == []


def test_ctrl_c_ends_the_agent_and_terminates_what_it_started(fake_api: FakeMessagesAPI, tmp_path: Path) -> None:
    running: dict[str, subprocess.Popen[str]] = {}

    def interrupt() -> None:
        running["run"].send_signal(signal.SIGINT)

    fake_api.script = [Delayed(30, message(text("too late")), on_arrival=interrupt)]
    running["run"] = subprocess.Popen([PYTHON, "-m", "seer_mcp", "run", str(config(tmp_path))], text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(tmp_path), cwd=REPO)
    _, stderr = running["run"].communicate(timeout=300)
    assert running["run"].returncode == 130, stderr[-3000:]
    assert "stopped" in stderr
    deadline = time.time() + 30  # the server ends after its stdin closes, terminating the sandbox
    while time.time() < deadline and [s for _, s in sandboxes(tmp_path) if s == "running"]:
        time.sleep(0.5)
    assert [status for _, status in sandboxes(tmp_path)] == ["terminated"]


@pytest.mark.skipif(not _cli_runs(), reason="claude-agent-sdk has no runnable bundled claude CLI here")
def test_a_claude_agent_leaves_nothing_running(fake_api: FakeMessagesAPI, tmp_path: Path) -> None:
    # Claude Code ends its stdio servers with SIGINT, SIGTERM and SIGKILL within half a second: it used to kill
    # the server before it had terminated the sandbox, which then ran on, orphaned, until its idle timeout.
    fake_api.script = [message(tool_use("mcp__seer__execute_code", {"code": "print(6 * 7)"})),
                       message(text("The answer is 42."))]
    env = {**claude_env(tmp_path / "home", fake_api.url), "SEER_STATE_DIR": str(tmp_path / "state"),
           "SEER_OUTPUTS_DIR": str(tmp_path / "out")}
    run = start_run(tmp_path, env, provider="claude")
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr[-3000:]
    assert "The answer is 42." in stdout and "42" in str(fake_api.tool_results(1))
    assert [status for _, status in sandboxes(tmp_path)] == ["terminated"]
    assert running_sandboxes(tmp_path) == []


def test_sigterm_ends_the_run_and_terminates_what_it_started(fake_api: FakeMessagesAPI, tmp_path: Path) -> None:
    running: dict[str, subprocess.Popen[str]] = {}
    fake_api.script = [Delayed(30, message(text("too late")),
                               on_arrival=lambda: running["run"].send_signal(signal.SIGTERM))]
    running["run"] = start_run(tmp_path)
    _, stderr = running["run"].communicate(timeout=300)
    assert running["run"].returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert stderr.splitlines()[-1] == "seer-mcp run: stopped by SIGTERM"
    assert [status for _, status in sandboxes(tmp_path)] == ["terminated"]  # before the run exited
    assert running_sandboxes(tmp_path) == []


def test_an_agent_that_fails_says_so_in_one_line_and_leaves_nothing_running(fake_api: FakeMessagesAPI,
                                                                             tmp_path: Path) -> None:
    fake_api.script = [Failure(400, text="no such model")]
    run = start_run(tmp_path)
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 1
    assert [line for line in stderr.splitlines() if line.startswith("seer-mcp run: ")] == [
        stderr.splitlines()[-1]]
    assert "the Messages API call failed (HTTP 400)" in stderr.splitlines()[-1] and "Traceback" not in stderr
    assert [status for _, status in sandboxes(tmp_path)] == ["terminated"]
    assert running_sandboxes(tmp_path) == []
