"""The project's own agent runners against seer-mcp: what THEIR model receives.

`seer_mcp.harness.run_agent` with provider="claude" (Claude Code, the CLI claude-agent-sdk bundles) and
provider="anthropic" (the harness's own tool-use loop), each with seer-mcp over stdio; and `seer-mcp run` on an
experiment config (its server started with --experiment), with either provider. The model is scripted behind a
fake Messages API (tests/interop/clients.py); the tests read the tool_result blocks the runner sent it: a
printed line, a plot with its caption, an error with its traceback. The characters each tool call cost are
printed (`pytest -s` or `-rP`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from seer_mcp.settings import Settings
from tests.conftest import PYTHON, REPO, server_env
from tests.fake_http import without_proxies
from tests.interop.clients import ScriptedModel, Step, Turn, call, images_of, say, serve_model, text_of_block

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SESSION = r"ses-[0-9a-f]{12}"
SANDBOX = r"sb-[0-9a-f]{8}"
PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nprint('plot-caption-text')\nplt.show()"
CELLS = [("hello", "print('hello-from-cell')"), ("plot", PLOT), ("error", "raise ValueError('bad value')")]


def flow() -> list[Step]:
    """A sandbox, a session, the three cells, and terminate_sandbox."""
    def sandbox(t: Turn) -> str:
        return t.find("create", SANDBOX)

    def cell(code: str) -> Callable[[Turn], dict[str, Any]]:
        return lambda t: {"code": code, "session_id": t.find("session", SESSION)}

    steps = [call("create", "create_sandbox", {"name": "harness-interop"}),
             call("session", "start_session", lambda t: {"sandbox_id": sandbox(t)})]
    steps += [call(label, "execute_code", cell(code)) for label, code in CELLS]
    return [*steps, call("terminate", "terminate_sandbox", lambda t: {"sandbox_id": sandbox(t)}),
            Step("done", say="All done.")]


def experiment_flow() -> list[Step]:
    """Operator mode: the session is already there, and the agent has only the cell tools."""
    return [*(call(label, "execute_code", {"code": code}) for label, code in CELLS), Step("done", say="All done.")]


def check_cells(model: ScriptedModel, client: str, tmp_path: Path) -> None:
    """What every runner's model must receive of the three cells; prints what each call cost."""
    say(f"\n[{client}] what the model received: {model.dump(tmp_path / 'received.json')}")
    say(f"[{client}] what the model received per tool call: {json.dumps(model.sizes())}")
    assert not model.errors, model.errors
    failures = []
    hello = model.text("hello")
    if "hello-from-cell" not in hello or hello.count("hello-from-cell") != 1:
        failures.append(f"printed text: the model received {hello!r}")
    plot = model.result("plot")
    if not images_of(plot):
        failures.append(f"plot: no image block; the model received {text_of_block(plot)!r}")
    if text_of_block(plot).count("plot-caption-text") != 1:
        failures.append(f"plot caption: the model received {text_of_block(plot)!r}")
    error, error_text = model.result("error"), model.text("error")
    if error.get("is_error") is not True:
        failures.append(f"error: not flagged is_error; the model received {error_text!r}")
    if "ValueError: bad value" not in error_text or error_text.count("raise ValueError('bad value')") != 1:
        failures.append(f"error: no traceback, or it came twice; the model received {error_text!r}")
    assert not failures, "\n".join(failures)


@pytest.fixture
def model_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """A scripted model on 127.0.0.1 for whatever runs in this process, and a throwaway home for Claude Code."""
    without_proxies(monkeypatch, "ANTHROPIC_AUTH_TOKEN", "SEER_AGENT_MODEL", "CLAUDE_CODE_OAUTH_TOKEN")
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    for name, value in {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
                        "ANTHROPIC_API_KEY": "sk-ant-test", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                        "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1",
                        "SEER_OUTPUTS_DIR": str(tmp_path / "outputs")}.items():
        monkeypatch.setenv(name, value)

    @contextlib.contextmanager
    def serve(model: ScriptedModel) -> Iterator[ScriptedModel]:
        with serve_model(model):
            monkeypatch.setenv("ANTHROPIC_BASE_URL", model.url)
            yield model

    yield serve


@pytest.mark.parametrize("provider, prefix", [("claude", "mcp__seer__"), ("anthropic", "")])
async def test_run_agent(provider: str, prefix: str, model_env: Any, tmp_path: Path) -> None:
    from seer_mcp.harness import run_agent

    settings = Settings(state_dir=tmp_path / "state", outputs_dir=tmp_path / "outputs", cell_timeout=60,
                        _env_file=None)
    config = {"seer": {"type": "stdio", "command": PYTHON, "args": ["-m", "seer_mcp", "serve"],
                       "env": server_env(settings)}}
    with model_env(ScriptedModel(flow(), prefix=prefix)) as model:
        try:
            messages = [m async for m in run_agent("Run the interop script.", config, provider=provider,
                                                   model="claude-sonnet-5-5", max_turns=20,
                                                   transcript_path=tmp_path / "transcript.jsonl")]
        finally:
            await asyncio.to_thread(subprocess.run, [PYTHON, "-m", "seer_mcp", "stop", "--all"], check=False,
                                    env=server_env(settings), capture_output=True, timeout=120)
    assert messages and messages[-1].kind == "final", [m.kind for m in messages]
    assert len(model.requests) >= len(model.steps), (
        f"the run stopped after {len(model.requests)} model calls: {[str(m)[:300] for m in messages[-4:]]}")
    check_cells(model, f"run_agent provider={provider}", tmp_path)
    assert not model.result("terminate").get("is_error")


def experiment(tmp_path: Path, provider: str) -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(textwrap.dedent(f"""
        [experiment]
        name = "interop"
        task = "Run the interop script."
        [sandbox]
        [session]
        name = "work"
        [agent]
        tools = ["cells"]
        provider = "{provider}"
        model = "claude-sonnet-5-5"
        max_turns = 20
    """))
    return path


@pytest.mark.parametrize("provider, prefix", [("anthropic", ""), ("claude", "mcp__seer__")])
def test_seer_mcp_run(provider: str, prefix: str, model_env: Any, tmp_path: Path) -> None:
    env = {**os.environ, "SEER_STATE_DIR": str(tmp_path / "state"), "SEER_OUTPUTS_DIR": str(tmp_path / "out")}
    with model_env(ScriptedModel(experiment_flow(), prefix=prefix)) as model:
        env["ANTHROPIC_BASE_URL"] = model.url
        done = subprocess.run([PYTHON, "-m", "seer_mcp", "run", str(experiment(tmp_path, provider))], check=False,
                              capture_output=True, text=True, env=env, timeout=400, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    offered = {tool["name"] for tool in model.requests[0]["tools"]}
    assert f"{prefix}execute_code" in offered and f"{prefix}create_sandbox" not in offered
    check_cells(model, f"seer-mcp run provider={provider}", tmp_path)
