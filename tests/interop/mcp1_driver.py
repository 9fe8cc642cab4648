"""Drives seer-mcp through the MCP clients that still need the 1.x MCP SDK, and says what their model is handed.

langchain-mcp-adapters (mcp<2) and smolagents' mcpadapt (which imports 1.x-only names) cannot be installed
next to seer-mcp (mcp>=2.3), so `tests/interop/test_frameworks.py` runs this file with the interpreter of a
venv of their own (`.venv/mcp1`, made by scripts/setup-env.sh). It is not a test module and imports nothing
from seer-mcp: stdin carries a JSON job (which framework, how to start the server, which tool calls to make);
stdout gets back, for each call, what the framework hands its model: `{"text", "images", "is_error", "raw"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import traceback
from typing import Any

RAW_CHARS = 2000  # how much of each framework object is kept for the report


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= RAW_CHARS else text[:RAW_CHARS] + f"... [{len(text):,} chars]"


def _failure(exc: BaseException) -> dict[str, Any]:
    """A call that raised: the framework would show its model this exception's text (or crash the run)."""
    return {"text": f"{type(exc).__name__}: {exc}", "images": 0, "is_error": True, "raised": True,
            "raw": "".join(traceback.format_exception(exc))[-RAW_CHARS:]}


# ----- langchain-mcp-adapters ------------------------------------------------

def _tool_message_view(message: Any) -> dict[str, Any]:
    """A langchain ToolMessage, which is what the chat model receives: its `content` (the artifact is not sent)."""
    content = message.content
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    texts = [b if isinstance(b, str) else b.get("text", "") for b in blocks
             if isinstance(b, str) or b.get("type") == "text"]
    images = sum(1 for b in blocks if isinstance(b, dict) and b.get("type") in ("image", "image_url"))
    return {"text": "\n".join(texts), "images": images, "is_error": message.status == "error",
            "raw": _short([b if b.get("type") == "text" else {"type": b.get("type")} for b in blocks
                           if isinstance(b, dict)])}


async def _langchain_call(tools: dict[str, Any], name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    # A ToolCall dict is how a LangChain agent invokes a tool for its model; the reply is the ToolMessage.
    message = await tools[name].ainvoke({"type": "tool_call", "id": call_id, "name": name, "args": args})
    return _tool_message_view(message)


async def run_langchain(job: dict[str, Any]) -> dict[str, Any]:
    from langchain_mcp_adapters.client import MultiServerMCPClient
    from langchain_mcp_adapters.tools import load_mcp_tools

    server = job["server"]
    connection = {"transport": "stdio", "command": server["command"], "args": server["args"], "env": server["env"]}
    client = MultiServerMCPClient({"seer": connection})
    views: dict[str, Any] = {}

    async def run_calls(tools: dict[str, Any]) -> None:
        for index, call in enumerate(job["calls"]):
            try:
                views[call["key"]] = await _langchain_call(tools, call["tool"], call["args"], f"call_{index}")
            except Exception as exc:  # noqa: BLE001 - reported to the test, which decides
                views[call["key"]] = _failure(exc)

    if job["framework"] == "langchain_session":
        # The pattern for a long-lived server: one session, tools bound to it.
        async with client.session("seer") as session:
            tools = {tool.name: tool for tool in await load_mcp_tools(session)}
            await run_calls(tools)
    else:
        # The README pattern: tools with no session, each call starts the server anew.
        tools = {tool.name: tool for tool in await client.get_tools()}
        await run_calls(tools)
    return {"views": views, "tools": sorted(tools)}


# ----- smolagents (mcpadapt) -------------------------------------------------

def _as_a_model_would(tool: Any, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments a model sends when smolagents shows it the tool.

    smolagents lists every input as required unless it is marked `nullable` (mcpadapt never marks
    one), and refuses a call that leaves one out; so its model sends each input: the default the
    schema shows for it, else null.
    """
    return {**{name: spec.get("default") for name, spec in tool.inputs.items()}, **args}


def _smolagents_view(agent: Any, call: dict[str, Any], call_id: str) -> dict[str, Any]:
    """What a ToolCallingAgent puts in front of its model: the step's observation message."""
    from smolagents.memory import ActionStep
    from smolagents.models import ChatMessage, ChatMessageToolCall, ChatMessageToolCallFunction, MessageRole
    from smolagents.monitoring import Timing

    step = ActionStep(step_number=1, timing=Timing(start_time=time.time()))
    args = call["args"] if call.get("as_given") else _as_a_model_would(agent.tools[call["tool"]], call["args"])
    message = ChatMessage(role=MessageRole.ASSISTANT, content=None, tool_calls=[ChatMessageToolCall(
        id=call_id, type="function", function=ChatMessageToolCallFunction(name=call["tool"], arguments=args))])
    outputs = list(agent.process_tool_calls(message, step))
    output = outputs[-1].output
    texts, images = [], 0
    # The step's messages are the model's own tool call, then the observation: the latter is the answer.
    for model_message in step.to_messages():
        if model_message.role != MessageRole.TOOL_RESPONSE:
            continue
        for part in model_message.content or []:
            if part.get("type") == "text":
                texts.append(part["text"])
            elif part.get("type") == "image":
                images += 1
    return {"text": "\n".join(texts), "images": images, "is_error": None, "args": args,
            "raw": _short({"output_type": type(output).__name__, "output": output})}


def run_smolagents(job: dict[str, Any]) -> dict[str, Any]:
    from mcp import StdioServerParameters
    from smolagents import MCPClient, ToolCallingAgent
    from smolagents.models import Model
    from smolagents.monitoring import LogLevel

    class NoModel(Model):
        """The agent is only asked to run tool calls; nothing may ask this model anything."""

        def generate(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("no model in these tests")

    server = job["server"]
    params = StdioServerParameters(command=server["command"], args=server["args"], env=server["env"])
    structured = job["framework"] == "smolagents_structured"
    views: dict[str, Any] = {}
    with MCPClient(params, structured_output=structured) as tools:
        agent = ToolCallingAgent(tools=tools, model=NoModel(model_id="none"), verbosity_level=LogLevel.OFF)
        for index, call in enumerate(job["calls"]):
            try:
                views[call["key"]] = _smolagents_view(agent, call, f"call_{index}")
            except Exception as exc:  # noqa: BLE001 - an AgentToolExecutionError is shown to the model as is
                views[call["key"]] = _failure(exc)
        names = sorted(tool.name for tool in tools)
    return {"views": views, "tools": names}


def main() -> None:
    job = json.loads(sys.stdin.read())
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # frameworks that print must not corrupt the answer
    try:
        if job["framework"].startswith("langchain"):
            answer = asyncio.run(run_langchain(job))
        elif job["framework"].startswith("smolagents"):
            answer = run_smolagents(job)
        else:
            raise ValueError(f"unknown framework {job['framework']!r}")
    except BaseException as exc:  # noqa: BLE001 - the test reports why the framework could not even start
        answer = {"setup_error": "".join(traceback.format_exception(exc))[-4000:]}
    finally:
        sys.stdout = real_stdout
    with contextlib.suppress(BrokenPipeError):
        json.dump(answer, real_stdout)


if __name__ == "__main__":
    main()
