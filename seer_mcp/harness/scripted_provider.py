"""Provider "scripted": an agent that is a Python coroutine, not a model, on the MCP servers' tools.

`model` names it, `"package.module:function"`, e.g. `seer_mcp.experiments.demo:scripted_investigator`.
The function is called as `await function(tools, task)`: `tools.call(name, arguments)` runs a tool of
the run's MCP servers (as `McpToolbox.call` does: errors come back as results) and is recorded as the
tool call and tool result messages of a model's run; `tools.say(text)` records assistant text; what it
returns is the final answer. It needs no API key and no network: baselines, sweeps of a fixed
investigation over organisms and controls, and tests run on it.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from seer_mcp.harness.base import HarnessError
from seer_mcp.harness.mcp_tools import McpToolbox, ToolOutcome
from seer_mcp.harness.messages import AgentMessage

__all__ = ["ScriptTools", "ScriptedConversation", "load_script"]

Script = Callable[["ScriptTools", str], Awaitable[str]]
_DONE = object()


def load_script(reference: str) -> Script:
    """The coroutine function `module:function` names; a clear error if it cannot be."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise HarnessError(f"provider 'scripted' needs model='package.module:function', got {reference!r}")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise HarnessError(f"provider 'scripted': cannot load {reference!r} ({type(exc).__name__}: {exc})") from exc
    if not inspect.iscoroutinefunction(function):
        raise HarnessError(f"provider 'scripted': {reference!r} is not an async function (tools, task) -> str")
    return function


class ScriptTools:
    """What a script gets: the run's MCP tools, each call recorded as a model's would be."""

    def __init__(self, toolbox: McpToolbox, emit: Callable[[AgentMessage], None]) -> None:
        self._toolbox = toolbox
        self._emit = emit
        self._ids = itertools.count(1)

    async def names(self) -> list[str]:
        return [tool.exposed for tool in await self._toolbox.refresh()]

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> ToolOutcome:
        use_id = f"script-{next(self._ids)}"
        self._emit(AgentMessage("tool_call", tool_name=name, tool_use_id=use_id, arguments=dict(arguments or {})))
        outcome = await self._toolbox.call(name, arguments or {})
        self._emit(AgentMessage("tool_result", outcome.text, tool_name=name, tool_use_id=use_id,
                                result=outcome.blocks, is_error=outcome.is_error,
                                metadata={"fields": outcome.fields} if outcome.fields else {}))
        return outcome

    def say(self, text: str) -> None:
        self._emit(AgentMessage("assistant_text", text))


class ScriptedConversation:
    """One run of a script: entered once; `turn(task)` runs it and streams what it does."""

    def __init__(self, prompt: str, mcp_config: dict[str, Any] | None, model: str) -> None:
        self.script = load_script(model)
        self.prompt = prompt
        self.toolbox = McpToolbox(mcp_config)

    async def __aenter__(self) -> "ScriptedConversation":
        await self.toolbox.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.toolbox.__aexit__(*exc)

    async def turn(self, user_message: str) -> AsyncIterator[AgentMessage]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        tools = ScriptTools(self.toolbox, queue.put_nowait)
        task_text = self.prompt or user_message

        async def work() -> None:
            try:
                answer = await self.script(tools, task_text)
                queue.put_nowait(AgentMessage("final", str(answer), turn=1))
            except Exception as exc:  # the script's own failure ends the run as a failed one
                queue.put_nowait(AgentMessage("final", f"the script failed: {type(exc).__name__}: {exc}",
                                              is_error=True, turn=1))
            finally:
                queue.put_nowait(_DONE)

        runner = asyncio.create_task(work())
        try:
            while (message := await queue.get()) is not _DONE:
                yield message
        finally:
            if not runner.done():
                runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
