"""`seer-mcp run CONFIG`: the config's agent on its task, through `serve --experiment` over stdio."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from seer_mcp.manager.state import StateStore
from tests.conftest import PYTHON, REPO
from tests.harness.conftest import Delayed, FakeMessagesAPI, message, text, tool_use

pytestmark = pytest.mark.slow


def config(tmp_path: Path) -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(textwrap.dedent("""
        [experiment]
        name = "run-test"
        task = "Compute six times seven in the notebook and report it."
        [sandbox]
        [session]
        name = "work"
        [agent]
        tools = ["cells"]
        provider = "anthropic"
        model = "fake-model"
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
