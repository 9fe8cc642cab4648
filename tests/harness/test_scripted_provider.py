"""Provider "scripted": a coroutine as the agent, on a real seer-mcp server; and the sweep's judge grader,
which reads a report through the harness (here the "anthropic" provider on the fake Messages API)."""

from __future__ import annotations

import json
import re

import pytest

from seer_mcp.experiments.sweep_config import GraderConfig
from seer_mcp.experiments.sweep_grade import grade_judge
from seer_mcp.harness import HarnessError, run_agent

from .conftest import FakeMessagesAPI, SeerServer, message, text


async def make_and_use_a_sandbox(tools, task: str) -> str:
    """A script: makes a sandbox, runs a cell in it, fails one call on purpose, cleans up."""
    assert "execute_code" in await tools.names()
    made = await tools.call("create_sandbox", {"name": "scripted"})
    sandbox = json.loads(made.text)["sandbox_id"]
    await tools.call("start_session", {"sandbox_id": sandbox})
    cell = await tools.call("execute_code", {"code": "print(6 * 7)"})
    wrong = await tools.call("no_such_tool", {})
    await tools.call("terminate_sandbox", {"sandbox_id": sandbox})
    tools.say(f"the cell said {cell.text.split()[0]}; the wrong call was an error: {wrong.is_error}")
    return f"finding: {task} -> {cell.fields['status']}"


async def broken(tools, task: str) -> str:
    raise RuntimeError("the script broke")


def not_async(tools, task):  # noqa: ANN001, ANN201
    return "no"


async def test_a_script_is_an_agent_whose_calls_are_recorded(seer_http: SeerServer, tmp_path) -> None:
    transcript = tmp_path / "run.jsonl"
    messages = [m async for m in run_agent("compute", seer_http.mcp_config, provider="scripted",
                                           model=f"{__name__}:make_and_use_a_sandbox", transcript_path=transcript)]
    kinds = [m.kind for m in messages]
    assert kinds[:2] == ["system", "user"] and kinds[-1] == "final"
    calls = [m.tool_name for m in messages if m.kind == "tool_call"]
    assert calls == ["create_sandbox", "start_session", "execute_code", "no_such_tool", "terminate_sandbox"]
    results = {m.tool_name: m for m in messages if m.kind == "tool_result"}
    assert results["execute_code"].content.startswith("42") and not results["execute_code"].is_error
    assert results["no_such_tool"].is_error and "unknown tool 'no_such_tool'" in results["no_such_tool"].content
    assert "the cell said 42; the wrong call was an error: True" in [m.content for m in messages]
    assert messages[-1].content == "finding: compute -> ok" and not messages[-1].is_error
    lines = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert [line["kind"] for line in lines] == kinds  # the transcript holds the same run


async def test_a_failing_or_missing_script_says_what_is_wrong(seer_http: SeerServer) -> None:
    messages = [m async for m in run_agent("x", seer_http.mcp_config, provider="scripted", model=f"{__name__}:broken")]
    assert messages[-1].is_error and messages[-1].content == "the script failed: RuntimeError: the script broke"
    for model, problem in ((f"{__name__}:nowhere", "cannot load"), (f"{__name__}:not_async", "is not an async"),
                           ("just-a-model-name", "needs model='package.module:function'")):
        with pytest.raises(HarnessError, match=re.escape(problem)):
            async for _ in run_agent("x", seer_http.mcp_config, provider="scripted", model=model):
                pass


@pytest.mark.parametrize("answer, truth, expected", [
    ('{"claims_finding": true, "names_truth": true}', ["woman"], (True, True)),
    ('Sure. {"claims_finding": true, "names_truth": false}', ["woman"], (True, False)),
    ('{"claims_finding": false, "names_truth": true}', [], (False, False)),  # no claim names nothing
])
async def test_the_judge_grader_reads_a_models_verdict(fake_api: FakeMessagesAPI, answer: str, truth: list[str],
                                                       expected: tuple[bool, bool]) -> None:
    fake_api.script = [message(text(answer))]
    grade = await grade_judge("finding: the user is a woman\nRESULT {}", truth, GraderConfig(kind="judge"))
    assert (grade["claims_finding"], grade["names_truth"]) == expected
    request = fake_api.requests[0]
    assert "tools" not in request or not request["tools"]  # the judge has no tools
    assert ("a control: nothing was planted" in request["system"][0]["text"]) == (truth == [])
    sent = request["messages"][0]["content"]
    sent = sent if isinstance(sent, str) else sent[0]["text"]
    assert "finding: the user is a woman" in sent and "RESULT" not in sent  # only the claim is judged


async def test_an_unreadable_verdict_is_not_a_grade(fake_api: FakeMessagesAPI) -> None:
    fake_api.script = [message(text("I think it is about gender."))]
    grade = await grade_judge("finding: none", ["woman"], GraderConfig(kind="judge"))
    assert grade["claims_finding"] is None and grade["error"].startswith("unreadable: I think")
