"""What the interop tests share: the server command, the calls every framework makes, and what a model is handed.

Each framework test drives a real `python -m seer_mcp serve` over stdio through the framework's own MCP
client and tool objects, with no model: it calls the tools the way the framework does when its model asks
for them, and reduces what the framework would then hand its model to a `View`:

* `text`: all the text the model receives for the call (for a framework that sends JSON, that JSON);
* `images`: how many images reach the model as images (not as base64 inside text);
* `is_error`: whether the model is told the call failed (None where the framework does not say);
* `raw`: a short repr of the framework's own object, for the report.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import pytest

from seer_mcp.settings import Settings
from tests.conftest import PYTHON, REPO, server_env

# The clients that need the 1.x MCP SDK run in a venv of their own (scripts/setup-env.sh makes it).
MCP1_PYTHON = Path(os.environ.get("SEER_INTEROP_MCP1_PYTHON", REPO / ".venv" / "mcp1" / "bin" / "python"))
MCP1_DRIVER = Path(__file__).with_name("mcp1_driver.py")

TEXT_CELL = "print('hello-from-cell')"
PLOT_CELL = "import matplotlib.pyplot as plt\nprint('plotted-line')\nplt.plot([1, 3, 2])\nplt.show()"
ERROR_CELL = "def explode():\n    raise ValueError('bad value')\n\nexplode()"
# About 1 MB in 10,000 lines: far over any output budget.
BIG_CELL = "for i in range(10_000):\n    print(f'line {i:05d} ' + 'x' * 95)"
SHELL_COMMAND = "echo shell-says-hi; echo shell-complains >&2"


@dataclass(frozen=True)
class Call:
    key: str
    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    # smolagents tells its model every input is required, so its model sends them all (see mcp1_driver.py);
    # as_given keeps the call to what a model of another framework sends.
    as_given: bool = False

    def job(self) -> dict[str, Any]:
        return {"key": self.key, "tool": self.tool, "args": self.args, "as_given": self.as_given}


# What a model does first with seer-mcp, then one call per kind of output.
CALLS = [
    Call("create", "create_sandbox"),
    Call("session", "start_session"),
    Call("text", "execute_code", {"code": TEXT_CELL}),
    Call("plot", "execute_code", {"code": PLOT_CELL}),
    Call("error", "execute_code", {"code": ERROR_CELL}),
    Call("big", "execute_code", {"code": BIG_CELL}),
    Call("shell", "sandbox_exec", {"command": SHELL_COMMAND}),
]


class View(TypedDict, total=False):
    text: str
    images: int
    is_error: bool | None
    raw: str
    raised: bool


def failure(exc: BaseException) -> View:
    """A call that raised instead of giving the model a result."""
    return {"text": f"{type(exc).__name__}: {exc}", "images": 0, "is_error": True, "raised": True, "raw": repr(exc)}


def short(value: Any, limit: int = 2000) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... [{len(text):,} chars]"


def module_settings(tmp_path_factory: pytest.TempPathFactory, terminate_on_exit: bool = True) -> Settings:
    """tests.conftest's settings, for a module whose servers outlive one test (its `settings` fixture).

    `terminate_on_exit=False` is what a user's server does (its sandboxes outlive it, and the next server
    re-attaches to them); a test that asks for it stops them itself (`stop_sandboxes`).
    """
    tmp_path = tmp_path_factory.mktemp("interop")
    return Settings(state_dir=tmp_path / "state", outputs_dir=tmp_path / "outputs", cell_timeout=60,
                    terminate_on_exit=terminate_on_exit, _env_file=None)


def stop_sandboxes(settings: Settings) -> None:
    """Terminates every sandbox a test's servers left running, as `seer-mcp stop --all` does for a user."""
    subprocess.run([PYTHON, "-m", "seer_mcp", "stop", "--all"], env=server_env(settings), capture_output=True,
                   timeout=120, check=False)


def settings_for(settings: Settings, name: str) -> Settings:
    """Each framework's server gets directories of its own, so no sandbox of another is ever in sight."""
    base = settings.state_dir.parent / name
    return settings.model_copy(update={"state_dir": base / "state", "outputs_dir": base / "outputs"})


def server_command(settings: Settings) -> dict[str, Any]:
    """How every framework starts the server: exactly as an MCP client config would."""
    return {"command": PYTHON, "args": ["-m", "seer_mcp", "serve"], "env": server_env(settings)}


def run_mcp1_framework(framework: str, settings: Settings, calls: list[Call], timeout: float = 600) -> dict[str, Any]:
    """Runs `mcp1_driver.py` in the 1.x-SDK venv; fails, saying how to make it, when that venv is missing."""
    if not MCP1_PYTHON.exists():
        pytest.fail(f"{framework} needs the 1.x MCP SDK: no venv at {MCP1_PYTHON} (scripts/setup-env.sh makes it)")
    job = {"framework": framework, "server": server_command(settings), "calls": [c.job() for c in calls]}
    done = subprocess.run([str(MCP1_PYTHON), str(MCP1_DRIVER)], input=json.dumps(job), capture_output=True,
                          text=True, timeout=timeout, check=False)
    try:
        answer = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"{framework} driver gave no answer (exit {done.returncode}):\n{done.stderr[-4000:]}")
    if "setup_error" in answer:
        raise AssertionError(f"{framework} could not start:\n{answer['setup_error']}")
    return answer
