"""run_agent's errors and transcripts, and run_agent_interactive against the fake Messages API."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pytest

from seer_mcp.harness import (
    AgentMessage,
    HarnessError,
    MissingDependencyError,
    Transcript,
    run_agent,
    run_agent_interactive,
)
from seer_mcp import Workspace, create_local_session
from seer_mcp.harness.messages import default_transcript_path

from .conftest import Delayed, FakeMessagesAPI, SeerServer, ctrl_c_soon, message, text, tool_use


class Terminal:
    """Scripted input lines (then EOF, or Ctrl-C), and the printed output."""

    def __init__(self, lines: list[str], end: type[BaseException] = EOFError) -> None:
        self.lines, self.end, self.printed = list(lines), end, []

    def input(self, prompt: str) -> str:
        if not self.lines:
            raise self.end()
        return self.lines.pop(0)

    def print(self, line: str) -> None:
        self.printed.append(line)


async def test_interactive_chat_keeps_the_conversation(fake_api: FakeMessagesAPI, seer_http: SeerServer,
                                                       tmp_path: Path) -> None:
    listing = tool_use("list_sandboxes")
    fake_api.script = [message(text("Hello! What shall we run?")), message(listing),
                       message(text("No sandbox is running."))]
    terminal = Terminal(["hello", "", "what is running?"])

    path = await run_agent_interactive("You help with experiments.", seer_http.mcp_config, provider="anthropic",
                                       input_fn=terminal.input, output_fn=terminal.print,
                                       transcript_path=tmp_path / "chat.jsonl")

    assert len(fake_api.requests) == 3
    history = fake_api.requests[1]["messages"]
    assert [(m["role"], m["content"][0].get("text")) for m in history] == [
        ("user", "hello"), ("assistant", "Hello! What shall we run?"), ("user", "what is running?")]
    assert fake_api.requests[2]["messages"][-1]["content"][0]["tool_use_id"] == listing["id"]
    printed = "\n".join(terminal.printed)
    assert "[assistant] Hello! What shall we run?" in printed
    assert "[tool call] list_sandboxes({})" in printed and "[tool result] list_sandboxes:" in printed
    assert printed.count("No sandbox is running.") == 1  # the final answer is not printed twice
    assert path == tmp_path / "chat.jsonl"
    kinds = [json.loads(line)["kind"] for line in path.read_text().splitlines()]
    assert kinds == ["system", "user", "assistant_text", "final", "user", "tool_call", "tool_result",
                     "assistant_text", "final"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_ctrl_c_stops_the_turn_and_returns_to_the_prompt(fake_api: FakeMessagesAPI, tmp_path: Path) -> None:
    # Ctrl-C while the model 'thinks' on the first question.
    fake_api.script = [Delayed(10, message(text("too late")), on_arrival=ctrl_c_soon()), message(text("Here now."))]
    terminal = Terminal(["slow question", "second question"], end=KeyboardInterrupt)
    before = signal.getsignal(signal.SIGINT)
    started = time.monotonic()
    path = await run_agent_interactive("", None, provider="anthropic", input_fn=terminal.input,
                                       output_fn=terminal.print, transcript_path=tmp_path / "chat.jsonl")
    assert time.monotonic() - started < 8
    assert "[interrupted]" in terminal.printed
    assert "[assistant] Here now." in terminal.printed
    # The interrupted question stays in the conversation, with the next one in the same user turn.
    assert [b["text"] for b in fake_api.requests[1]["messages"][0]["content"]] == ["slow question", "second question"]
    kinds = [json.loads(line)["kind"] for line in path.read_text().splitlines()]
    assert kinds == ["system", "user", "info", "user", "assistant_text", "final"]
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back


async def test_first_user_message_is_sent_without_asking(fake_api: FakeMessagesAPI, tmp_path: Path) -> None:
    fake_api.script = [message(text("Started."))]
    terminal = Terminal([])
    await run_agent_interactive("Task.", None, provider="anthropic", user_message="Start with the layers.",
                                input_fn=terminal.input, output_fn=terminal.print,
                                transcript_path=tmp_path / "chat.jsonl")
    assert fake_api.requests[0]["messages"][0]["content"][0]["text"] == "Start with the layers."
    assert "> Start with the layers." in terminal.printed and "[assistant] Started." in terminal.printed


async def test_a_judge_without_tools_and_an_explicit_user_message(fake_api: FakeMessagesAPI, tmp_path: Path) -> None:
    fake_api.script = [message(text('{"ok": true}'))]
    run = run_agent("Answer in JSON.", None, provider="anthropic", user_message="Is the sky blue?",
                    transcript_path=tmp_path / "judge.jsonl")
    messages = [m async for m in run]
    assert "tools" not in fake_api.requests[0]
    assert fake_api.requests[0]["messages"][0]["content"][0]["text"] == "Is the sky blue?"
    assert messages[-1].content == '{"ok": true}'
    assert run.transcript_path == tmp_path / "judge.jsonl"


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("anthropic", "claude_agent_sdk"):
        monkeypatch.setitem(sys.modules, module, None)  # makes `import` fail
    for provider in ("anthropic", "claude"):
        with pytest.raises(MissingDependencyError, match=r"pip install 'seer-mcp\[harness\]'"):
            run_agent("Task.", provider=provider)
    with pytest.raises(ImportError):  # callers that guard with `except ImportError` catch it too
        run_agent("Task.", provider="anthropic")


async def test_missing_credentials_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE", "CLAUDE_CODE_OAUTH_TOKEN",
                 "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ANTHROPIC_CONFIG_DIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-login"))
    monkeypatch.setenv("HOME", str(tmp_path))
    transcript = tmp_path / "never.jsonl"
    with pytest.raises(HarnessError, match="ANTHROPIC_API_KEY"):
        async for _ in run_agent("Task.", provider="anthropic", transcript_path=transcript):
            pass
    if sys.platform != "darwin":
        with pytest.raises(HarnessError, match="ANTHROPIC_API_KEY"):
            async for _ in run_agent("Task.", provider="claude", transcript_path=transcript):
                pass
    assert not transcript.exists()  # nothing ran, nothing recorded
    monkeypatch.setenv("ANTHROPIC_PROFILE", "missing")  # a profile that cannot be read: the same message
    with pytest.raises(HarnessError, match="ANTHROPIC_API_KEY.*CredentialsError"):
        run = run_agent("Task.", provider="anthropic", transcript_path=transcript)
        await run.__anext__()


def test_bad_arguments_fail_at_once() -> None:
    with pytest.raises(ValueError, match="unknown provider 'openai'"):
        run_agent("Task.", provider="openai")
    with pytest.raises(ValueError, match="allow_host_tools needs provider='claude'"):
        run_agent("Task.", provider="anthropic", allow_host_tools=True)
    with pytest.raises(ValueError, match="give the agent a task"):
        run_agent("", provider="anthropic")


def test_a_local_sessions_agent_needs_the_claude_provider(tmp_path: Path) -> None:
    session = create_local_session(Workspace(), tmp_path / "work")
    with pytest.raises(ValueError, match=r"the agent of the local session in .*/work works with host tools, which "
                                         r"the 'anthropic' provider does not have: use provider='claude'"):
        run_agent("Task.", {}, provider="anthropic")
    run_agent("Judge.", {}, provider="anthropic", allow_host_tools=False)  # a toolless judge beside it
    run_agent("Task.", {"seer": {"url": "http://127.0.0.1:1/mcp"}}, provider="anthropic")  # servers: not local
    session.terminate()
    run_agent("Task.", {}, provider="anthropic")


def test_transcripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEER_OUTPUTS_DIR", str(tmp_path / "out"))
    path = default_transcript_path("claude")
    assert path.parent == tmp_path / "out" / "transcripts" and path.name.endswith("-claude.jsonl")
    # Two agents started in the same millisecond get a file each.
    first, second = Transcript(None, "claude"), Transcript(None, "claude")
    second.path = first.path
    call = AgentMessage("tool_call", tool_name="list_sandboxes", tool_use_id="t1", arguments={})
    first.write(call)
    second.write(AgentMessage("final", "done"))
    assert first.path != second.path and second.path.name.endswith("-2.jsonl")
    first.close()
    second.close()
    line = json.loads(first.path.read_text())
    assert line == {"kind": "tool_call", "role": "assistant", "timestamp": call.timestamp, "turn": 0,
                    "tool_name": "list_sandboxes", "tool_use_id": "t1", "arguments": {}}
    assert Transcript.read(first.path) == [call]
    assert str(call) == "[tool call] list_sandboxes({})"
    assert str(AgentMessage("tool_result", "x" * 2000, tool_name="t")).endswith("[500 more characters]")


async def test_a_run_stopped_early_says_so(fake_api: FakeMessagesAPI, tmp_path: Path) -> None:
    fake_api.script = [message(text("Done."))]
    stopped = run_agent("Task.", None, provider="anthropic", transcript_path=tmp_path / "stopped.jsonl")
    async for _ in stopped:
        break
    await stopped.aclose()
    assert [json.loads(line)["kind"] for line in (tmp_path / "stopped.jsonl").read_text().splitlines()] == [
        "system", "info"]

    answered = run_agent("Task.", None, provider="anthropic", transcript_path=tmp_path / "answered.jsonl")
    async for msg in answered:
        if msg.kind == "final":
            break  # stopping after the answer is not stopping the agent
    await answered.aclose()
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "answered.jsonl").read_text().splitlines()]
    assert kinds == ["system", "user", "assistant_text", "final"]
