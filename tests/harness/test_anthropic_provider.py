"""The "anthropic" provider's tool-use loop against a local fake Messages API, driving a real seer-mcp server."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from seer_mcp.harness import AgentMessage, HarnessError, Transcript, run_agent
from seer_mcp.harness.mcp_tools import McpToolbox, _fit, anthropic_content
from seer_mcp.manager.state import StateStore

from .conftest import Failure, FakeMessagesAPI, SeerServer, message, result_text, text, tool_use

PROMPT = "You are a careful experimenter. Use the tools to compute 6*7 in a sandbox, then clean up."
PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"


async def collect(run: Any) -> list[AgentMessage]:
    return [m async for m in run]


def first_tool_result(api: FakeMessagesAPI, request: int, tool_use_id: str) -> dict[str, Any]:
    return api.tool_results(request)[tool_use_id]


async def test_the_loop_runs_real_tools_and_records_everything(fake_api: FakeMessagesAPI, seer_http: SeerServer,
                                                               tmp_path: Path) -> None:
    create = tool_use("create_sandbox", {"name": "harness-test"})
    session, compute, plot = (tool_use("start_session"), tool_use("execute_code", {"code": "print(6*7)"}),
                              tool_use("execute_code", {"code": PLOT}))
    terminate_id: dict[str, str] = {}

    def clean_up(request: dict[str, Any]) -> dict[str, Any]:
        # The sandbox id is only known from the create_sandbox result the harness sent back.
        created = next(b for m in request["messages"] if m["role"] == "user" for b in m["content"]
                       if b.get("tool_use_id") == create["id"])
        sandbox_id = json.loads(result_text(created))["sandbox_id"]
        block = tool_use("terminate_sandbox", {"sandbox_id": sandbox_id})
        terminate_id["id"] = block["id"]
        return message(text("It printed 42. Cleaning up."), block)

    fake_api.script = [message(create), message(session, compute, plot), clean_up, message(text("The answer is 42."))]

    run = run_agent(PROMPT, seer_http.mcp_config, provider="anthropic", model="claude-test")
    messages = await collect(run)

    # What the model was sent: the system prompt, the server's tools, the tool results.
    first = fake_api.requests[0]
    assert first["model"] == "claude-test"
    assert first["system"][0]["text"] == PROMPT
    assert first["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Begin.", "cache_control": {"type": "ephemeral"}}]}]
    names = {tool["name"] for tool in first["tools"]}
    assert {"create_sandbox", "start_session", "execute_code", "terminate_sandbox", "list_sandboxes"} <= names
    execute = next(tool for tool in first["tools"] if tool["name"] == "execute_code")
    assert execute["input_schema"]["type"] == "object" and "code" in execute["input_schema"]["properties"]
    sent = fake_api.headers[0]
    assert "sk-ant-test" in (sent.get("x-api-key", "") + sent.get("authorization", ""))  # from ANTHROPIC_API_KEY

    results = fake_api.tool_results(2)
    assert "42" in result_text(results[compute["id"]]) and not results[compute["id"]].get("is_error")
    images = [part for part in results[plot["id"]]["content"] if part["type"] == "image"]
    assert images and images[0]["source"]["type"] == "base64" and images[0]["source"]["media_type"] == "image/png"
    assert "[image 1: image/png, attached below]" in result_text(results[plot["id"]])
    assert not fake_api.tool_results(3)[terminate_id["id"]].get("is_error")
    assert len(fake_api.requests) == 4

    # What the caller saw.
    kinds = [(m.kind, m.tool_name) for m in messages]
    assert kinds == [
        ("system", None), ("user", None),
        ("tool_call", "create_sandbox"), ("tool_result", "create_sandbox"),
        ("tool_call", "start_session"), ("tool_call", "execute_code"), ("tool_call", "execute_code"),
        ("tool_result", "start_session"), ("tool_result", "execute_code"), ("tool_result", "execute_code"),
        ("assistant_text", None), ("tool_call", "terminate_sandbox"), ("tool_result", "terminate_sandbox"),
        ("assistant_text", None), ("final", None)]
    final = messages[-1]
    assert final.content == "The answer is 42." and not final.is_error
    assert final.metadata["stop_reason"] == "end_turn" and final.metadata["usage"]["output_tokens"] == 20
    computed = next(m for m in messages if m.kind == "tool_result" and m.tool_use_id == compute["id"])
    # An output is one text block: what the cell printed, then its status line (no structured content to record).
    assert re.fullmatch(r"42\n\[cell 0 · ok · \d+\.\d\d s\]", computed.content)
    assert computed.result == [{"type": "text", "text": computed.content}]
    assert "structured_content" not in computed.metadata
    assert computed.metadata["fields"]["status"] == "ok" and computed.metadata["fields"]["cell_index"] == 0

    # The sandbox is gone.
    async with Client({"mcpServers": seer_http.mcp_config}) as client:
        listed = (await client.call_tool("list_sandboxes", {})).structured_content
    assert not [s for s in listed["sandboxes"] if s["status"] == "running"]

    # The transcript: one JSON object per line, exactly the messages yielded, in order.
    path = run.transcript_path
    assert path.parent == tmp_path / "outputs" / "transcripts" and path.name.endswith("-anthropic.jsonl")
    lines = path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [m.to_dict() for m in messages]
    assert Transcript.read(path) == messages
    system = json.loads(lines[0])
    assert system["kind"] == "system" and system["content"] == PROMPT
    assert system["metadata"]["mcp_servers"] == {"seer": {"type": "http", "url": seer_http.url}}
    call = json.loads(lines[5])
    assert call["kind"] == "tool_call" and call["arguments"] == {"code": "print(6*7)"}
    assert json.loads(lines[-1])["content"] == "The answer is 42."


async def test_tool_errors_go_back_to_the_model_as_is_error(fake_api: FakeMessagesAPI, seer_http: SeerServer,
                                                            tmp_path: Path) -> None:
    unknown_sandbox = tool_use("terminate_sandbox", {"sandbox_id": "sb-does-not-exist"})
    bad_arguments = tool_use("execute_code", {"cell": 1})
    unknown_tool = tool_use("no_such_tool", {})
    fake_api.script = [message(unknown_sandbox, bad_arguments, unknown_tool), message(text("I see."))]

    transcript = tmp_path / "errors.jsonl"
    messages = await collect(run_agent(PROMPT, seer_http.mcp_config, provider="anthropic",
                                       transcript_path=transcript))

    results = fake_api.tool_results(1)
    assert all(results[b["id"]].get("is_error") is True for b in (unknown_sandbox, bad_arguments, unknown_tool))
    assert "sb-does-not-exist" in result_text(results[unknown_sandbox["id"]])
    assert "code" in result_text(results[bad_arguments["id"]])
    assert "unknown tool 'no_such_tool'" in result_text(results[unknown_tool["id"]])
    errors = [m for m in messages if m.kind == "tool_result"]
    assert [m.is_error for m in errors] == [True, True, True]
    assert messages[-1].kind == "final" and messages[-1].content == "I see."
    assert len(transcript.read_text().splitlines()) == len(messages)


async def test_max_turns_stops_the_loop(fake_api: FakeMessagesAPI, seer_http: SeerServer, tmp_path: Path) -> None:
    fake_api.script = [message(text("Looking."), tool_use("list_sandboxes")), message(tool_use("list_sandboxes"))]
    messages = await collect(run_agent(PROMPT, seer_http.mcp_config, provider="anthropic", max_turns=1,
                                       transcript_path=tmp_path / "t.jsonl"))
    assert len(fake_api.requests) == 1
    assert [m.kind for m in messages][-2:] == ["tool_result", "final"]
    assert messages[-1].is_error and messages[-1].metadata["stop_reason"] == "max_turns"
    assert messages[-1].content == "Looking."


async def test_an_api_error_is_raised_and_recorded(fake_api: FakeMessagesAPI, tmp_path: Path) -> None:
    fake_api.script = [Failure(400, text="model: unknown model 'nope'")]
    transcript = tmp_path / "failed.jsonl"
    run = run_agent("Say hi.", None, provider="anthropic", model="nope", transcript_path=transcript)
    with pytest.raises(HarnessError, match=r"HTTP 400.*unknown model"):
        await collect(run)
    lines = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["system", "user", "error"]
    assert "unknown model" in lines[-1]["content"]
    assert "tools" not in fake_api.requests[0]  # no MCP servers, no tools


async def test_stdio_servers_and_several_servers_at_once(fake_api: FakeMessagesAPI, seer_http: SeerServer,
                                                         tmp_path: Path) -> None:
    env = {"SEER_STATE_DIR": str(tmp_path / "stdio-state"), "SEER_OUTPUTS_DIR": str(tmp_path / "stdio-out"),
           "PATH": os.environ.get("PATH", "")}
    config = {"web": seer_http.mcp_config["seer"],
              "local": {"command": sys.executable, "args": ["-m", "seer_mcp", "serve"], "env": env}}
    call = tool_use("local_list_sandboxes")
    fake_api.script = [message(call), message(text("Nothing runs."))]

    messages = await collect(run_agent(PROMPT, config, provider="anthropic", transcript_path=tmp_path / "t.jsonl"))

    names = {tool["name"] for tool in fake_api.requests[0]["tools"]}
    assert {"web_create_sandbox", "local_create_sandbox", "web_execute_code", "local_list_sandboxes"} <= names
    result = fake_api.tool_results(1)[call["id"]]
    assert not result.get("is_error") and json.loads(result_text(result)) == {"sandboxes": []}
    assert messages[-1].content == "Nothing runs."
    async with McpToolbox(config) as toolbox:  # names map back to their server
        await toolbox.refresh()
        assert toolbox.original("local_list_sandboxes") == ("local", "list_sandboxes")
        assert toolbox.original("web_execute_code") == ("web", "execute_code")


async def test_a_stdio_server_without_env_gets_the_callers_seer_settings(fake_api: FakeMessagesAPI, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # The MCP SDK starts a stdio server with PATH, HOME and a few more: SEER_STATE_DIR and SEER_OUTPUTS_DIR were
    # dropped, and the sandbox landed in the default state dir. Claude Code hands them on; so does this provider.
    monkeypatch.setenv("SEER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SEER_OUTPUTS_DIR", str(tmp_path / "out"))
    create = tool_use("create_sandbox", {"name": "env-test"})
    created: dict[str, Any] = {}

    def clean_up(request: dict[str, Any]) -> dict[str, Any]:
        result = next(b for m in request["messages"] if m["role"] == "user" for b in m["content"]
                      if b.get("tool_use_id") == create["id"])
        created.update(json.loads(result_text(result)))
        return message(tool_use("terminate_sandbox", {"sandbox_id": created["sandbox_id"]}))

    fake_api.script = [message(create), clean_up, message(text("Done."))]
    entry = {"command": sys.executable, "args": ["-m", "seer_mcp", "serve"]}  # no env
    messages = await collect(run_agent(PROMPT, {"seer": entry}, provider="anthropic",
                                       transcript_path=tmp_path / "t.jsonl"))

    assert messages[-1].content == "Done."
    assert Path(created["outputs_path"]).is_relative_to(tmp_path / "out")
    store = StateStore(tmp_path / "state" / "state.sqlite")
    try:
        assert [(r.sandbox_id, r.status) for r in store.sandboxes()] == [(created["sandbox_id"], "terminated")]
    finally:
        store.close()


def test_tool_results_and_names_fit_the_messages_api() -> None:
    blocks = [{"type": "text", "text": "a plot:"}, {"type": "image", "mime_type": "image/png", "data": "iVBO"},
              {"type": "image", "mime_type": "image/svg+xml", "data": "PHN2"}, {"type": "text", "text": ""}]
    assert anthropic_content(blocks) == [
        {"type": "text", "text": "a plot:"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "text", "text": "[an image of type image/svg+xml, not shown]"}]
    assert anthropic_content([]) == [{"type": "text", "text": "(no output)"}]  # never an empty result
    assert _fit("probe.get embedding") == "probe_get_embedding" and len(_fit("x" * 100)) == 64
