"""The real Claude Code CLI (the newest release and the oldest we support) against seer-mcp over stdio: what
its MODEL receives.

Claude Code runs non-interactively (`claude -p`) with seer-mcp as its only MCP server and a scripted model
behind a fake Messages API (tests/interop/clients.py). In one run the model calls every kind of tool there
is: a sandbox, a session, a printed line, a plot with a caption, an error, a 1 MB output, a file written and
read, an interface served and its function called, a shell session, and terminate_sandbox. The tests read
the tool_result blocks Claude Code sent the model, never seer-mcp's results themselves: Claude Code decides
what of a CallToolResult its model sees (it forwards only JSON.stringify(structuredContent), plus images,
when a successful result has structuredContent).

The characters each tool call cost are printed (`pytest -s` or `-rP` shows them).
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from seer_mcp.settings import Settings
from tests.conftest import PYTHON, server_env
from tests.interop.clients import (
    CLAUDE_CODE_NEWEST,
    CLAUDE_CODE_OLDEST,
    ScriptedModel,
    Step,
    Turn,
    call,
    claude_code_bin,
    claude_env,
    images_of,
    say,
    serve_model,
    text_of_block,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SANDBOX = r"sb-[0-9a-f]{8}"
SESSION = r"ses-[0-9a-f]{12}"
PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nprint('plot-caption-text')\nplt.show()"
BIG = "print('big-head')\nprint('x' * 1_000_000)\nprint('big-tail')"
INTERFACE = textwrap.dedent('''
    """A tiny interface for the interop tests."""  # file-body-text
    from seer_mcp.interface import expose


    @expose
    def shout(word: str) -> str:
        """The word in capitals, signed."""
        return word.upper() + "-from-interface"
''').lstrip()
INTERFACE_TOOL = "greeter_shout"


def flow() -> list[Step]:
    """The model's side of the run: one tool call a turn, ids read from earlier results."""
    def sandbox(t: Turn) -> str:
        return t.find("create", SANDBOX)

    def notebook(t: Turn) -> str:
        return t.find("session", SESSION)

    def cell(code: str) -> Any:
        return lambda t: {"code": code, "session_id": notebook(t)}

    return [
        call("create", "create_sandbox", {"name": "interop"}),
        call("session", "start_session", lambda t: {"sandbox_id": sandbox(t)}),
        call("hello", "execute_code", cell("print('hello-from-cell')")),
        call("plot", "execute_code", cell(PLOT)),
        call("error", "execute_code", cell("raise ValueError('bad value')")),
        call("big", "execute_code", cell(BIG)),
        call("write", "write_file", lambda t: {"sandbox_id": sandbox(t), "path": "greeter.py", "content": INTERFACE}),
        call("read", "read_file", lambda t: {"sandbox_id": sandbox(t), "path": "greeter.py"}),
        call("serve", "serve_interface", lambda t: {"sandbox_id": sandbox(t), "name": "greeter", "path": "greeter.py"}),
        # Whether the client took in notifications/tools/list_changed shows in the tools it offers its model:
        # in the very next call, and in the one after, sent seconds later (as a real model's answer is).
        call("listed", "list_interfaces", {}, delay=3),
        call("iface_tool", INTERFACE_TOOL, {"word": "hi"}),
        call("iface_call", "call_interface", {"name": "greeter", "function": "shout", "arguments": {"word": "hi"}}),
        call("shell", "start_session", lambda t: {"sandbox_id": sandbox(t), "kind": "cli", "name": "shell"}),
        call("shell_cmd", "execute_code",
             lambda t: {"code": "echo shell-says-hi", "session_id": t.find("shell", SESSION)}),
        call("terminate", "terminate_sandbox", lambda t: {"sandbox_id": sandbox(t)}),
        Step("done", say="All done."),
    ]


@dataclass
class ClaudeRun:
    version: str
    model: ScriptedModel
    returncode: int
    events: list[dict[str, Any]]
    stderr: str
    state_dir: Path
    protocol: str  # the version negotiated, as the client's debug log names it ("handshake" where it does not)

    def final(self) -> dict[str, Any]:
        results = [e for e in self.events if e.get("type") == "result"]
        return results[-1] if results else {}


def run_claude(version: str, root: Path, steps: list[Step], env: dict[str, str] | None = None) -> ClaudeRun:
    settings = Settings(state_dir=root / "state", outputs_dir=root / "outputs", cell_timeout=60, _env_file=None)
    config = {"mcpServers": {"seer": {"type": "stdio", "command": PYTHON, "args": ["-m", "seer_mcp", "serve"],
                                      "env": server_env(settings)}}}
    (root / "mcp.json").write_text(json.dumps(config))
    work = root / "work"
    work.mkdir()
    model = ScriptedModel(steps, prefix="mcp__seer__")
    claude = claude_code_bin(version)
    with serve_model(model):
        command = [str(claude), "-p", "Run the interop script.", "--output-format", "stream-json", "--verbose",
                   "--mcp-config", str(root / "mcp.json"), "--strict-mcp-config", "--tools", "",
                   "--allowedTools", "mcp__seer", "--permission-mode", "dontAsk", "--model", "claude-sonnet-5-5",
                   "--max-turns", str(len(steps) + 5), "--no-session-persistence",
                   "--debug-file", str(root / "debug.log")]
        try:
            done = subprocess.run(command, check=False, cwd=work, capture_output=True, text=True, timeout=600,
                                  env={**claude_env(root / "home", model.url), **(env or {})})
        finally:  # whatever the client left, the state dir's sandboxes end here
            subprocess.run([PYTHON, "-m", "seer_mcp", "stop", "--all"], check=False, env=server_env(settings),
                           capture_output=True, timeout=120)
    events = []
    for line in done.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    # Everything the model received, for a person to read.
    model.dump(root / "received.json")
    log = (root / "debug.log").read_text(errors="replace") if (root / "debug.log").exists() else ""
    era = re.search(r'"negotiatedProtocolVersion":"([^"]+)"', log)
    return ClaudeRun(version, model, done.returncode, events, done.stderr, settings.state_dir,
                     era.group(1) if era else "handshake")


# The newest release as it comes (it offers 2026-07-28 first, over server/discover, and falls back to the
# handshake), the same release held to the handshake era, and the oldest release we support (handshake only).
CLIENTS = [pytest.param((CLAUDE_CODE_NEWEST, {}), id=f"claude-code-{CLAUDE_CODE_NEWEST}"),
           pytest.param((CLAUDE_CODE_NEWEST, {"MCP_PROTOCOL_NEGOTIATION": "legacy"}),
                        id=f"claude-code-{CLAUDE_CODE_NEWEST}-handshake"),
           pytest.param((CLAUDE_CODE_OLDEST, {}), id=f"claude-code-{CLAUDE_CODE_OLDEST}")]


@pytest.fixture(scope="module", params=CLIENTS)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClaudeRun]:
    version, env = request.param
    root = tmp_path_factory.mktemp(f"claude-{version}")
    result = run_claude(version, root, flow(), env)
    version = f"{version}{' ' + json.dumps(env) if env else ''}"
    say(f"\n[claude-code {version}] what the model received: {root / 'received.json'}")
    say(f"[claude-code {version}] protocol: {result.protocol}")
    sizes = result.model.sizes()
    say(f"\n[claude-code {version}] what the model received per tool call: {json.dumps(sizes)}")
    say(f"[claude-code {version}] total text characters: {sum(s['text_chars'] for s in sizes.values()):,}")
    for label, when in (("listed", "in the next model call"), ("iface_tool", "3 s later")):
        offered = f"mcp__seer__{INTERFACE_TOOL}" in result.model.tools_seen.get(label, ())
        say(f"[claude-code {version}] {INTERFACE_TOOL} offered after serve_interface, {when}: {offered}")
    yield result


def received(run: ClaudeRun, label: str) -> tuple[str, dict[str, Any]]:
    block = run.model.result(label)
    return text_of_block(block), block


def test_the_run_completes(run: ClaudeRun) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    assert not run.model.errors
    init = next((e for e in run.events if e.get("type") == "system" and e.get("subtype") == "init"), {})
    assert [(s.get("name"), s.get("status")) for s in init.get("mcp_servers", [])] == [("seer", "connected")]
    assert run.final().get("is_error") is False, run.final()
    text, block = received(run, "terminate")
    assert not block.get("is_error"), text


def test_both_protocol_eras_are_spoken(run: ClaudeRun, request: pytest.FixtureRequest) -> None:
    version, env = request.node.callspec.params["run"]
    modern = version == CLAUDE_CODE_NEWEST and not env
    assert (run.protocol == "2026-07-28") == modern, run.protocol


def test_printed_text_reaches_the_model(run: ClaudeRun) -> None:
    text, block = received(run, "hello")
    assert not block.get("is_error")
    assert "hello-from-cell" in text, f"the model received: {text!r}"


def test_a_plot_reaches_the_model_as_an_image_with_its_caption(run: ClaudeRun) -> None:
    text, block = received(run, "plot")
    images = images_of(block)
    assert images and images[0]["source"]["media_type"] == "image/png", f"no image; the model received: {text!r}"
    assert "plot-caption-text" in text, f"the model received: {text!r}"


def test_an_error_is_flagged_with_its_traceback(run: ClaudeRun) -> None:
    text, block = received(run, "error")
    assert block.get("is_error") is True, f"not flagged as an error; the model received: {text!r}"
    assert "ValueError: bad value" in text, f"the model received: {text!r}"
    assert "Traceback" in text and "raise ValueError('bad value')" in text, f"no traceback: {text!r}"


def test_a_huge_output_is_cut_and_says_where_the_rest_is(run: ClaudeRun) -> None:
    text, _ = received(run, "big")
    assert len(text) < 100_000, f"the model received {len(text):,} characters"
    assert "big-head" in text and "big-tail" in text and "x" * 1000 in text, f"the model received: {text[:3000]!r}"
    assert re.search(r"cut .*\.ipynb", text), f"no cut marker naming the notebook: {text[:3000]!r}"


def test_a_file_read_reaches_the_model(run: ClaudeRun) -> None:
    text, block = received(run, "read")
    assert not block.get("is_error") and "file-body-text" in text and "def shout" in text, text


def test_an_interface_function_reaches_the_model(run: ClaudeRun) -> None:
    as_tool, tool_block = received(run, "iface_tool")
    through_call, call_block = received(run, "iface_call")
    assert not call_block.get("is_error") and "HI-from-interface" in through_call, through_call
    offered = f"mcp__seer__{INTERFACE_TOOL}" in run.model.tools_seen["iface_tool"]
    if offered:  # the client took the list change in: its tool works as well
        assert not tool_block.get("is_error") and "HI-from-interface" in as_tool, as_tool


def test_the_interface_tool_is_offered_once_served(run: ClaudeRun) -> None:
    """notifications/tools/list_changed: the client lists the new tool to its model in the same run."""
    assert f"mcp__seer__{INTERFACE_TOOL}" in run.model.tools_seen["iface_tool"], (
        f"Claude Code {run.version} did not offer {INTERFACE_TOOL} after serve_interface; calling it gave: "
        f"{received(run, 'iface_tool')[0]!r}")


def test_a_shell_command_output_reaches_the_model(run: ClaudeRun) -> None:
    text, block = received(run, "shell_cmd")
    assert not block.get("is_error") and "shell-says-hi" in text, text


@pytest.mark.parametrize("label, needles", [
    ("hello", ["hello-from-cell"]),
    ("plot", ["plot-caption-text"]),
    ("error", ["raise ValueError('bad value')", "Traceback"]),
    ("big", ["big-head", "big-tail"]),
    ("read", ["file-body-text"]),
    ("iface_call", ["HI-from-interface"]),
    ("shell_cmd", ["shell-says-hi"]),
])
def test_no_output_is_received_twice(run: ClaudeRun, label: str, needles: list[str]) -> None:
    text, _ = received(run, label)
    for needle in needles:
        assert text.count(needle) <= 1, f"{needle!r} reached the model {text.count(needle)} times: {text[:3000]!r}"
