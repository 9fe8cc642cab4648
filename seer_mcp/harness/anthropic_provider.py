"""Provider "anthropic": a plain tool-use loop on the Messages API, whose tools are the MCP servers' tools.

Each turn: list the servers' tools (interfaces served mid-run add some), call the model, run every
`tool_use` block through MCP in order, send the `tool_result` blocks back (text; images as base64 image
blocks; `is_error` for failures), and go on until the model stops asking for tools or `max_turns`
model calls were made. Credentials and the endpoint come from the environment as the `anthropic` SDK
reads them (`ANTHROPIC_API_KEY` or `ANTHROPIC_AUTH_TOKEN`, `ANTHROPIC_BASE_URL`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from seer_mcp.harness.base import HarnessError, require
from seer_mcp.harness.mcp_tools import McpToolbox
from seer_mcp.harness.messages import AgentMessage

__all__ = ["DEFAULT_MAX_TOKENS", "AnthropicConversation"]

DEFAULT_MAX_TOKENS = 8192
_CACHE = {"type": "ephemeral"}
_INTERRUPTED = "interrupted by the user before it finished"
_NO_CREDENTIALS = ("no Anthropic credentials: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN); ANTHROPIC_BASE_URL "
                   "points the harness at another endpoint")


class AnthropicConversation:
    """One conversation with a model on the Messages API and the tools of `mcp_config`."""

    def __init__(self, prompt: str, mcp_config: dict[str, Any] | None, model: str, max_turns: int | None,
                 max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        self._sdk = require("anthropic", "anthropic")
        try:
            self.client = self._sdk.AsyncAnthropic()
        except Exception as exc:  # e.g. a profile named in the environment that cannot be read
            raise HarnessError(f"{_NO_CREDENTIALS} ({type(exc).__name__}: {exc})") from exc
        if not (self.client.api_key or self.client.auth_token or getattr(self.client, "credentials", None)):
            raise HarnessError(_NO_CREDENTIALS)
        self.system = prompt
        self.model = model
        self.max_turns = max_turns
        self.max_tokens = max_tokens
        self.toolbox = McpToolbox(mcp_config)
        self.messages: list[dict[str, Any]] = []
        self.calls = 0  # model calls so far, over the whole conversation
        self.usage = {"input_tokens": 0, "output_tokens": 0}
        self._pending: dict[str, dict[str, Any]] = {}  # tool results of the last assistant message, so far

    async def __aenter__(self) -> "AnthropicConversation":
        try:
            await self.toolbox.__aenter__()
        except BaseException:
            await self.client.close()
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.toolbox.__aexit__(*exc)
        finally:
            await self.client.close()

    async def interrupt(self) -> list[AgentMessage]:
        # Nothing runs on the model's side between calls; the next turn closes what was left open.
        return []

    def _add_user_text(self, text: str) -> None:
        last = self.messages[-1] if self.messages else None
        if last is not None and last["role"] == "assistant":
            open_calls = [b["id"] for b in last["content"] if b["type"] == "tool_use"]
            if open_calls:  # a turn was interrupted while its tools ran: every tool_use needs its result
                self.messages.append({"role": "user", "content": [self._pending.get(i) or _result_block(
                    i, [{"type": "text", "text": _INTERRUPTED}], True) for i in open_calls]})
                self._pending = {}
                last = self.messages[-1]
        if last is not None and last["role"] == "user":  # interrupted before the model answered
            last["content"].append({"type": "text", "text": text})
        else:
            self.messages.append({"role": "user", "content": [{"type": "text", "text": text}]})

    def _request(self, tools: list[dict[str, Any]]) -> dict[str, Any]:
        # Prompt caching: the system prompt, the tools and the conversation so far are sent again every call.
        messages = list(self.messages)
        last = dict(messages[-1])
        last["content"] = [*last["content"][:-1], {**last["content"][-1], "cache_control": _CACHE}]
        messages[-1] = last
        request: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens, "messages": messages}
        if self.system:
            request["system"] = [{"type": "text", "text": self.system, "cache_control": _CACHE}]
        if tools:
            request["tools"] = [*tools[:-1], {**tools[-1], "cache_control": _CACHE}]
        return request

    async def turn(self, user_message: str) -> AsyncIterator[AgentMessage]:
        self._add_user_text(user_message)
        calls = 0
        texts: list[str] = []
        while True:
            if self.max_turns is not None and calls >= self.max_turns:
                yield AgentMessage("final", "\n\n".join(texts), is_error=True, turn=self.calls,
                                   metadata={"stop_reason": "max_turns", "max_turns": self.max_turns,
                                             "usage": dict(self.usage)})
                return
            calls += 1
            self.calls += 1
            tools = await self.toolbox.anthropic_tools()
            try:
                response = await self.client.messages.create(**self._request(tools))
            except self._sdk.APIError as exc:
                status = getattr(exc, "status_code", None)
                raise HarnessError(f"the Messages API call failed{f' (HTTP {status})' if status else ''}: "
                                   f"{exc}") from exc
            self._count(response)
            self.messages.append({"role": "assistant", "content": [_assistant_block(b) for b in response.content]})
            texts = []
            tool_uses = []
            for block in response.content:
                if block.type == "text":
                    texts.append(block.text)
                    yield AgentMessage("assistant_text", block.text, turn=self.calls)
                elif block.type == "thinking":
                    yield AgentMessage("thinking", block.thinking, turn=self.calls)
                elif block.type == "tool_use":
                    tool_uses.append(block)
                    yield AgentMessage("tool_call", tool_name=block.name, tool_use_id=block.id,
                                       arguments=dict(block.input or {}), turn=self.calls)
            if response.stop_reason == "pause_turn":  # a server-side tool paused: let the model go on
                continue
            if not tool_uses:
                yield AgentMessage("final", "\n\n".join(texts), turn=self.calls,
                                   is_error=response.stop_reason not in ("end_turn", "stop_sequence"),
                                   metadata={"stop_reason": response.stop_reason, "usage": dict(self.usage)})
                return
            self._pending = {}
            for block in tool_uses:
                outcome = await self.toolbox.call(block.name, dict(block.input or {}))
                self._pending[block.id] = _result_block(block.id, outcome.anthropic(), outcome.is_error)
                metadata = {"structured_content": outcome.structured} if outcome.structured is not None else {}
                if outcome.fields is not None:
                    metadata["fields"] = outcome.fields
                yield AgentMessage("tool_result", outcome.text, tool_name=block.name, tool_use_id=block.id,
                                   result=outcome.blocks, is_error=outcome.is_error, turn=self.calls,
                                   metadata=metadata)
            self.messages.append({"role": "user", "content": [self._pending[b.id] for b in tool_uses]})
            self._pending = {}

    def _count(self, response: Any) -> None:
        usage = getattr(response, "usage", None)
        for key in self.usage:
            self.usage[key] += getattr(usage, key, 0) or 0


def _result_block(tool_use_id: str, content: list[dict[str, Any]], is_error: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id, "content": content}
    if is_error:
        block["is_error"] = True
    return block


def _assistant_block(block: Any) -> dict[str, Any]:
    """A response block as it is sent back in the next request."""
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if block.type == "thinking":
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    return block.model_dump(mode="json", exclude_none=True)
