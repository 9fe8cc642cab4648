"""The "claude" provider end to end: the SDK's bundled `claude` CLI against the fake Messages API (which it
streams from), with a real seer-mcp server as its only tools. Skipped where the SDK ships no CLI."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import claude_agent_sdk
import pytest

from seer_mcp import Library, Workspace, create_local_session
from seer_mcp.harness import HOST_TOOLS, run_agent, run_agent_interactive

from .conftest import (
    Delayed,
    FakeMessagesAPI,
    SeerServer,
    ctrl_c_soon,
    isolate_claude_cli,
    message,
    result_text,
    text,
    tool_use,
)

REPO = Path(__file__).resolve().parents[2]
CLI = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"


def _cli_runs() -> bool:
    try:
        return subprocess.run([str(CLI), "--version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not _cli_runs(), reason="claude-agent-sdk has no runnable bundled claude CLI here")


@pytest.fixture(autouse=True)
def cli_home(fake_api: FakeMessagesAPI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_claude_cli(monkeypatch, tmp_path)


async def test_claude_gets_the_mcp_tools_and_no_host_tools(fake_api: FakeMessagesAPI, seer_http: SeerServer,
                                                           tmp_path: Path) -> None:
    listing = tool_use("mcp__seer__list_sandboxes")
    fake_api.script = [message(text("Let me look."), listing), message(text("No sandbox is running."))]
    run = run_agent("You inspect sandboxes.", seer_http.mcp_config, provider="claude", model="claude-sonnet-5-5",
                    transcript_path=tmp_path / "claude.jsonl", max_turns=5)
    messages = [m async for m in run]

    first = fake_api.requests[0]
    names = {tool["name"] for tool in first["tools"]}
    assert {"mcp__seer__execute_code", "mcp__seer__create_sandbox", "mcp__seer__list_sandboxes"} <= names
    assert not names & set(HOST_TOOLS)  # no shell, files or web on the host
    assert {"type": "text", "text": "You inspect sandboxes.", "cache_control": {"type": "ephemeral"}} in first["system"]
    assert str(REPO) not in json.dumps(first)  # the CLI ran in a neutral folder, not the caller's
    sent = fake_api.tool_results(1)[listing["id"]]
    assert json.loads(sent["content"] if isinstance(sent["content"], str) else sent["content"][0]["text"]) == {
        "sandboxes": []}

    kinds = [(m.kind, m.tool_name) for m in messages]
    assert kinds == [("system", None), ("user", None), ("info", None), ("assistant_text", None),
                     ("tool_call", "mcp__seer__list_sandboxes"), ("tool_result", "mcp__seer__list_sandboxes"),
                     ("assistant_text", None), ("final", None)]
    assert [(s["name"], s["status"]) for s in messages[2].metadata["mcp_servers"]] == [("seer", "connected")]
    workdir = Path(messages[2].metadata["cwd"])
    assert workdir.name.startswith("seer-agent-") and not workdir.exists()  # made for the run, removed after
    assert messages[5].content == '{"sandboxes":[]}' and not messages[5].is_error
    assert messages[-1].content == "No sandbox is running." and not messages[-1].is_error
    assert messages[-1].metadata["num_turns"] == 2
    lines = [json.loads(line) for line in (tmp_path / "claude.jsonl").read_text().splitlines()]
    assert lines == [m.to_dict() for m in messages]


async def test_a_host_tool_the_model_asks_for_is_refused(fake_api: FakeMessagesAPI, seer_http: SeerServer,
                                                         tmp_path: Path) -> None:
    marker = tmp_path / "the-agent-was-here"
    shell = tool_use("Bash", {"command": f"touch {marker}", "description": "touch a file"})
    fake_api.script = [message(shell), message(text("I could not."))]
    messages = [m async for m in run_agent("Task.", seer_http.mcp_config, provider="claude",
                                           model="claude-sonnet-5-5", transcript_path=tmp_path / "t.jsonl")]
    assert not marker.exists()
    result = next(m for m in messages if m.kind == "tool_result")
    assert result.is_error and result.tool_name == "Bash"
    assert fake_api.tool_results(1)[shell["id"]].get("is_error") is True
    assert messages[-1].content == "I could not."


async def test_an_interactive_chat_with_claude(fake_api: FakeMessagesAPI, tmp_path: Path) -> None:
    fake_api.script = [message(text("Hi!")), message(text("You said hello, then this."))]
    lines, printed = ["hello", "and this?"], []

    def read(prompt: str) -> str:
        if not lines:
            raise EOFError
        return lines.pop(0)

    await run_agent_interactive("Be brief.", None, provider="claude", model="claude-sonnet-5-5", input_fn=read,
                                output_fn=printed.append, transcript_path=tmp_path / "chat.jsonl")
    # One Claude Code session: the second call carries the first exchange.
    history = fake_api.requests[1]["messages"]
    said = [(m["role"], m["content"] if isinstance(m["content"], str) else
             " ".join(b.get("text", "") for b in m["content"])) for m in history if m["role"] != "system"]
    assert said[0] == ("user", "hello") and ("assistant", "Hi!") in said and said[-1][1].endswith("and this?")
    assert "[assistant] Hi!" in printed and "[assistant] You said hello, then this." in printed
    assert not any(line.startswith("[final]") for line in printed)


async def test_ctrl_c_interrupts_claude_and_the_chat_goes_on(fake_api: FakeMessagesAPI, tmp_path: Path) -> None:
    fake_api.script = [Delayed(15, message(text("too late")), on_arrival=ctrl_c_soon()), message(text("Here now."))]
    lines, printed = ["slow question", "second question"], []

    def read(prompt: str) -> str:
        if not lines:
            raise KeyboardInterrupt  # Ctrl-C at the prompt ends the chat
        return lines.pop(0)

    started = time.monotonic()
    path = await run_agent_interactive("Be brief.", None, provider="claude", model="claude-sonnet-5-5",
                                       input_fn=read, output_fn=printed.append, transcript_path=tmp_path / "chat.jsonl")
    assert time.monotonic() - started < 14
    assert "[interrupted]" in printed and "[assistant] Here now." in printed
    kinds = [json.loads(line)["kind"] for line in path.read_text().splitlines()]
    assert kinds[:2] == ["system", "user"] and kinds[-2:] == ["assistant_text", "final"]
    assert "interrupted by the user" in path.read_text()
    # Only what matters is printed: no session banners, nothing of the interrupted turn but the notice.
    assert [line for line in printed[1:] if line] == ["[interrupted]", "[assistant] Here now."]


async def test_a_local_sessions_agent_works_in_its_folder_with_host_tools(fake_api: FakeMessagesAPI,
                                                                          tmp_path: Path) -> None:
    # Seer's local session: `create_local_session(workspace, workspace_dir)`, then `run_agent(prompt, mcp_config={})`.
    session = create_local_session(Workspace(libraries=[Library.from_code("helpers", "def answer():\n"
                                                                                      "    return 42\n")]),
                                   tmp_path / "agent-workspace")
    shell = tool_use("Bash", {"command": "python -c 'import helpers; print(helpers.answer())' && pwd",
                              "description": "call the library"})
    fake_api.script = [message(shell), message(text("It answers 42."))]
    messages = [m async for m in run_agent("Use the helpers library.", {}, provider="claude",
                                           model="claude-sonnet-5-5", transcript_path=tmp_path / "t.jsonl")]

    assert messages[0].metadata["allow_host_tools"] is True
    assert messages[0].metadata["local_session_dir"] == str(session.workspace_dir)
    assert {"Bash", "Read", "Write"} <= {tool["name"] for tool in fake_api.requests[0]["tools"]}
    sent = fake_api.tool_results(1)[shell["id"]]
    output = sent["content"] if isinstance(sent["content"], str) else result_text(sent)
    assert not sent.get("is_error") and output.split() == ["42", str(session.workspace_dir)]
    assert messages[-1].content == "It answers 42."

    # Its own mcp_config says the same; once the session ends, `{}` means no tools again (a judge).
    assert session.mcp_config == {}
    session.terminate()
    fake_api.script = [message(text("A score of 7."))]
    judged = [m async for m in run_agent("Score this.", {}, provider="claude", model="claude-sonnet-5-5",
                                         transcript_path=tmp_path / "judge.jsonl")]
    assert judged[0].metadata["allow_host_tools"] is False
    assert not {tool["name"] for tool in fake_api.requests[-1].get("tools", [])} & set(HOST_TOOLS)


async def test_a_judge_beside_an_open_local_session_can_be_kept_toolless(fake_api: FakeMessagesAPI,
                                                                         tmp_path: Path) -> None:
    create_local_session(Workspace(), tmp_path / "agent-workspace")
    fake_api.script = [message(text("A score of 7."))]
    judged = [m async for m in run_agent("Score this.", {}, provider="claude", model="claude-sonnet-5-5",
                                         allow_host_tools=False, transcript_path=tmp_path / "judge.jsonl")]
    assert judged[0].metadata["allow_host_tools"] is False and judged[0].metadata["local_session_dir"] is None
    assert not {tool["name"] for tool in fake_api.requests[0].get("tools", [])} & set(HOST_TOOLS)
    assert str(tmp_path / "agent-workspace") not in json.dumps(fake_api.requests[0])
