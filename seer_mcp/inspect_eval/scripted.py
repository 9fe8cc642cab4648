"""A scripted investigator as Inspect's mock model: `mockllm/model` driven turn by turn by a script.

    from inspect_ai.model import get_model
    model = get_model("mockllm/model", custom_outputs=scripted_outputs(
        "seer_mcp.experiments.demo:scripted_investigator"))

The script is the harness's "scripted" agent (`seer_mcp.harness.scripted_provider`): an async function
`(tools, task) -> str` whose `tools.call(name, arguments)` runs a tool. Here each call becomes the
mock model's tool call, Inspect runs it through its own MCP client, and the script goes on with the
tool result's text exactly as Inspect hands it to a model (no `_meta`, no structured fields): a
baseline investigator for Inspect's runner that needs no key. Its answer is submitted with
react()'s `submit` tool. Conversations are told apart by the tool call ids the script's calls get,
so samples may run concurrently.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from inspect_ai.model import (ChatMessage, ChatMessageTool, ChatMessageUser, GenerateConfig, ModelOutput,
                              ModelUsage)
from inspect_ai.tool import ToolChoice, ToolInfo

from seer_mcp.harness.scripted_provider import load_script

__all__ = ["ScriptedOutcome", "scripted_outputs"]

_MODEL = "mockllm/model"
_STATUS_LINE = re.compile(r"\[(?:cell|command) [^\]\n]*\]\s*$")


@dataclass
class ScriptedOutcome:
    """A tool's result as the script sees it: Inspect's text, and the cell status read off its last line."""

    text: str
    is_error: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    blocks: list[Any] = field(default_factory=list)


def cell_status(text: str) -> str | None:
    """A cell's status from the closing line the model reads (`[cell 3 · ok · 0.12 s]`), None if it has none."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines or not _STATUS_LINE.search(lines[-1]):
        return None
    last = lines[-1]
    if "still running" in last:
        return "running"
    parts = [part.strip(" []") for part in last.split("·")]
    return "ok" if len(parts) > 1 and parts[1] in ("ok", "exit 0") else "error"


class _Tools:
    """`tools` for the script: each call is handed to the model's turn and waits for Inspect's result."""

    def __init__(self, conversation: "_Conversation") -> None:
        self._conversation = conversation

    async def names(self) -> list[str]:
        return list(self._conversation.tool_names)

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> ScriptedOutcome:
        result: asyncio.Future[ScriptedOutcome] = asyncio.get_running_loop().create_future()
        await self._conversation.steps.put(("call", name, dict(arguments or {}), result))
        return await result

    def say(self, text: str) -> None:
        self._conversation.said.append(text)


class _Conversation:
    def __init__(self, script: Any, task_text: str, tool_names: list[str]) -> None:
        self.tool_names = tool_names
        self.said: list[str] = []
        self.steps: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.waiting: asyncio.Future[ScriptedOutcome] | None = None
        self.runner = asyncio.ensure_future(self._run(script, task_text))

    async def _run(self, script: Any, task_text: str) -> None:
        try:
            answer = str(await script(_Tools(self), task_text))
        except Exception as exc:  # the script's failure is its answer, as with the harness's provider
            answer = f"the script failed: {type(exc).__name__}: {exc}"
        await self.steps.put(("final", answer))


def scripted_outputs(reference: str) -> Any:
    """A `custom_outputs` callable for `mockllm/model` that plays the script `module:function`."""
    script = load_script(reference)
    waiting: dict[str, _Conversation] = {}  # tool call id -> the conversation waiting for its result
    ids = itertools.count(1)

    async def generate(input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        last = input[-1] if input else None
        if isinstance(last, ChatMessageTool) and last.tool_call_id in waiting:
            conversation = waiting.pop(last.tool_call_id)
            error = last.error.message if last.error is not None else None
            text = error if error is not None else last.text
            status = cell_status(text)
            outcome = ScriptedOutcome(text, is_error=error is not None, fields={"status": status} if status else {})
            assert conversation.waiting is not None
            conversation.waiting.set_result(outcome)
        else:  # a new sample: the task is its first user message
            task_text = next((m.text for m in input if isinstance(m, ChatMessageUser)), "")
            conversation = _Conversation(script, task_text, [tool.name for tool in tools])
        step = await conversation.steps.get()
        if step[0] == "call":
            _, name, arguments, result = step
            call_id = f"seer-script-{next(ids)}-{uuid.uuid4().hex[:8]}"
            waiting[call_id] = conversation
            conversation.waiting = result
            output = ModelOutput.for_tool_call(_MODEL, name, arguments, tool_call_id=call_id, content="")
        elif any(tool.name == "submit" for tool in tools):
            output = ModelOutput.for_tool_call(_MODEL, "submit", {"answer": step[1]}, content="",
                                               tool_call_id=f"seer-submit-{next(ids)}")
        else:
            output = ModelOutput.from_content(_MODEL, step[1])
        # A script uses no tokens; left unset, mockllm would count them with tiktoken, which downloads its
        # tables on first use (and fails offline).
        output.usage = ModelUsage(input_tokens=0, output_tokens=0, total_tokens=0)
        return output

    return generate


def _scripted_api() -> type:
    from inspect_ai.model._providers.mockllm import MockLLM

    class ScriptedModel(MockLLM):
        """`--model seer_scripted/module:function`: the mock model playing that script (see the module)."""

        def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                     config: GenerateConfig = GenerateConfig(), **model_args: Any) -> None:
            super().__init__(model_name, base_url, api_key, config, custom_outputs=scripted_outputs(model_name))

    return ScriptedModel


def register_scripted_model() -> None:
    """Registers the `seer_scripted` model provider with Inspect (the package's entry point does)."""
    from inspect_ai.model import modelapi

    modelapi(name="seer_scripted")(_scripted_api)
