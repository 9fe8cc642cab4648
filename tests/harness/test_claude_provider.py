"""The "claude" provider offline: the options it builds (host tools off by default) and its message translation."""

from __future__ import annotations

import sys
from pathlib import Path

import claude_agent_sdk as sdk
import pytest

from seer_mcp.harness import HOST_TOOLS, ClaudeTranslator, claude_options
from seer_mcp.harness.claude_provider import claude_credentials_found, mcp_servers_for_claude

SESSION = {"seer-notebook": {"type": "http", "transport": "http", "url": "http://127.0.0.1:4321/mcp",
                             "headers": {"Authorization": "Bearer tok"}}}


def test_host_tools_are_off_by_default() -> None:
    options = claude_options("Investigate the model.", SESSION, model="claude-test", max_turns=7)
    assert isinstance(options, sdk.ClaudeAgentOptions)
    assert options.system_prompt == "Investigate the model."
    assert options.model == "claude-test" and options.max_turns == 7
    # The session's server, as the SDK types it (fastmcp's extra `transport` key dropped).
    assert options.mcp_servers == {"seer-notebook": {"type": "http", "url": "http://127.0.0.1:4321/mcp",
                                                     "headers": {"Authorization": "Bearer tok"}}}
    assert options.strict_mcp_config is True  # no servers from settings or .mcp.json files
    assert options.tools == []  # no built-in tool at all
    assert options.allowed_tools == ["mcp__seer-notebook__*"]
    assert {"Bash", "Read", "Write", "Edit", "Glob", "Grep", "WebFetch", "WebSearch", "Task"} <= set(
        options.disallowed_tools)
    assert not [tool for tool in options.disallowed_tools if tool.startswith("mcp__")]
    assert options.permission_mode == "dontAsk"  # what is not allowed is refused, never asked
    assert options.setting_sources == []  # project settings could add hooks or permissions


def test_host_tools_when_allowed() -> None:
    options = claude_options("Task.", SESSION, allow_host_tools=True)
    assert options.tools is None and options.disallowed_tools == []
    assert options.system_prompt == {"type": "preset", "preset": "claude_code", "append": "Task."}
    assert options.allowed_tools == ["mcp__seer-notebook__*", *HOST_TOOLS]
    assert options.permission_mode == "dontAsk" and options.strict_mcp_config


def test_no_servers_no_tools() -> None:
    options = claude_options("Judge this.", None)
    assert options.mcp_servers == {} and options.allowed_tools == [] and options.tools == []


def test_server_entries_of_every_shape() -> None:
    entries = {
        "a": {"url": "http://h/mcp", "transport": "streamable-http"},
        "b": {"url": "http://h/sse"},
        "c": {"type": "sse", "url": "http://h/events", "headers": {}},
        "d": {"command": "python", "args": ["-m", "seer_mcp", "serve"], "env": {"SEER_STATE_DIR": "/s"}},
        "e": {"type": "stdio", "command": "seer-mcp"},
    }
    assert mcp_servers_for_claude(entries) == {
        "a": {"type": "http", "url": "http://h/mcp"},
        "b": {"type": "sse", "url": "http://h/sse"},
        "c": {"type": "sse", "url": "http://h/events"},
        "d": {"type": "stdio", "command": "python", "args": ["-m", "seer_mcp", "serve"],
              "env": {"SEER_STATE_DIR": "/s"}},
        "e": {"type": "stdio", "command": "seer-mcp", "args": []},
    }


def test_the_cli_gets_the_restrictions() -> None:
    """The command line the SDK builds from the options (an SDK internal; skipped if it moves)."""
    transport_module = pytest.importorskip("claude_agent_sdk._internal.transport.subprocess_cli")
    transport = transport_module.SubprocessCLITransport(prompt="Begin.", options=claude_options("Task.", SESSION))
    transport._cli_path = "claude"
    try:
        command = transport._build_command()
    except Exception as exc:  # pragma: no cover - depends on the SDK's internals
        pytest.skip(f"the SDK's command builder changed: {exc}")
    joined = " ".join(command)
    assert command[command.index("--tools") + 1] == ""
    assert "--strict-mcp-config" in command and "--permission-mode dontAsk" in joined
    assert "mcp__seer-notebook__*" in command[command.index("--allowedTools") + 1]
    assert "Bash" in command[command.index("--disallowedTools") + 1].split(",")


def test_credentials_are_looked_for(tmp_path: Path) -> None:
    assert claude_credentials_found({"ANTHROPIC_API_KEY": "k"}, home=tmp_path)
    assert claude_credentials_found({"CLAUDE_CODE_USE_BEDROCK": "1"}, home=tmp_path)
    (tmp_path / "login" / ".credentials.json").parent.mkdir()
    (tmp_path / "login" / ".credentials.json").write_text("{}")
    assert claude_credentials_found({"CLAUDE_CONFIG_DIR": str(tmp_path / "login")}, home=tmp_path)
    if sys.platform != "darwin":
        assert not claude_credentials_found({}, home=tmp_path)


def test_sdk_messages_become_agent_messages() -> None:
    translator = ClaudeTranslator()
    init = translator.translate(sdk.SystemMessage("init", {
        "model": "claude-test", "tools": ["mcp__seer__execute_code"], "session_id": "s1",
        "mcp_servers": [{"name": "seer", "status": "connected"}, {"name": "other", "status": "failed"}]}))
    assert [m.kind for m in init] == ["info", "error"]
    assert init[0].metadata["mcp_servers"][0] == {"name": "seer", "status": "connected"}
    assert "'other' is failed" in init[1].content

    call = translator.translate(sdk.AssistantMessage(
        [sdk.TextBlock("Let me compute."), sdk.ToolUseBlock("tu1", "mcp__seer__execute_code", {"code": "print(6*7)"})],
        "claude-test", message_id="m1"))
    assert [(m.kind, m.turn) for m in call] == [("assistant_text", 1), ("tool_call", 1)]
    assert call[1].tool_name == "mcp__seer__execute_code" and call[1].arguments == {"code": "print(6*7)"}
    assert call[1].tool_use_id == "tu1"

    result = translator.translate(sdk.UserMessage([sdk.ToolResultBlock("tu1", [
        {"type": "text", "text": "42\n"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}])]))
    assert len(result) == 1 and result[0].kind == "tool_result"
    assert result[0].tool_name == "mcp__seer__execute_code"  # remembered from the call
    assert result[0].content == "42\n\n[image image/png]" and not result[0].is_error
    assert result[0].result == [{"type": "text", "text": "42\n"},
                                {"type": "image", "mime_type": "image/png", "data": "iVBO"}]

    failed = translator.translate(sdk.UserMessage([sdk.ToolResultBlock("tu1", "NameError: x", is_error=True)]))
    assert failed[0].is_error and failed[0].content == "NameError: x"

    answer = translator.translate(sdk.AssistantMessage([sdk.ThinkingBlock("hmm", "sig"), sdk.TextBlock("It is 42.")],
                                                       "claude-test", message_id="m2"))
    assert [(m.kind, m.turn) for m in answer] == [("thinking", 2), ("assistant_text", 2)]

    final = translator.translate(sdk.ResultMessage("success", 1200, 900, False, 2, "s1", total_cost_usd=0.01,
                                                   result="It is 42."))
    assert final[0].kind == "final" and final[0].content == "It is 42." and not final[0].is_error
    assert final[0].metadata["num_turns"] == 2 and final[0].metadata["total_cost_usd"] == 0.01

    stopped = translator.translate(sdk.ResultMessage("error_max_turns", 1, 1, True, 3, "s1"))
    assert stopped[0].is_error and stopped[0].content == "It is 42."  # no result: the last text stands in

    denied = translator.translate(sdk.AssistantMessage([sdk.TextBlock("Invalid API key")], "claude-test",
                                                       error="authentication_failed"))
    assert denied[-1].kind == "error" and "ANTHROPIC_API_KEY" in denied[-1].content
    assert translator.translate(object()) == []
