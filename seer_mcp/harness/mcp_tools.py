"""MCP servers as Anthropic tools: connect to each entry of an `mcp_config`, list and call their tools.

Entries take the shapes agent frameworks use: streamable HTTP / SSE (`{"type": "http", "url": ...,
"headers": {...}}`, what `session.mcp_config` gives) and stdio (`{"command": ..., "args": [...],
"env": {...}}`). A stdio server gets the MCP SDK's minimal environment (PATH, HOME, ...), the caller's
`SEER_*` variables, then `env`: a `seer-mcp serve` started this way uses the caller's state and outputs
dirs, as it does under the "claude" provider (Claude Code hands its stdio servers its whole environment).
Other keys and tokens reach a server only through `env`. Closing the toolbox stops its stdio servers.

Each server gets a `fastmcp.Client` of its own. With one server the model sees its tool names as they
are; with several, each name is prefixed `<server>_<tool>` (fastmcp's own convention for multi-server
configs), and `call` maps a name back to its server and tool. Names are made to fit the Messages API
(`[a-zA-Z0-9_-]`, at most 64 characters).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from fastmcp import Client

from seer_mcp.harness.base import HarnessError

__all__ = ["McpToolbox", "ToolOutcome", "anthropic_content"]

_NAME_LIMIT = 64
_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


@dataclass
class ToolOutcome:
    """A tool call's result in the harness's terms."""

    text: str  # what a person reads: the text parts, with placeholders for images
    blocks: list[dict[str, Any]]  # JSON content blocks (text / image with base64 data), as recorded
    is_error: bool
    structured: Any = None
    fields: dict[str, Any] | None = None  # an output's fields for programs (`_meta["seer"]`), kept in transcripts

    def anthropic(self) -> list[dict[str, Any]]:
        return anthropic_content(self.blocks)


@dataclass
class _Tool:
    exposed: str  # the name the model sees
    server: str
    name: str  # the name on its server
    description: str
    input_schema: dict[str, Any]


def _normalized_entry(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as fastmcp's MCPConfig reads it (it knows `transport`; Claude's configs say `type`)."""
    entry = dict(entry)
    kind = entry.get("type")
    if kind == "sdk":
        raise HarnessError(f"MCP server {name!r} is an in-process SDK server, which only the 'claude' provider runs")
    if "url" in entry:
        if "transport" not in entry and kind in ("http", "streamable-http", "sse"):
            entry["transport"] = "sse" if kind == "sse" else "http"
        entry.pop("type", None)
    elif "command" in entry:
        inherited = {key: value for key, value in os.environ.items() if key.startswith("SEER_")}
        entry["env"] = {**inherited, **(entry.get("env") or {})}
        entry.setdefault("keep_alive", False)  # fastmcp's default keeps the process until the event loop ends
    else:
        raise HarnessError(f"MCP server {name!r} has neither a url nor a command: {sorted(entry)}")
    return entry


def _fit(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:_NAME_LIMIT] or "tool"


class McpToolbox:
    """The tools of every server in an `mcp_config`, for one agent run (`async with`)."""

    def __init__(self, mcp_config: dict[str, Any] | None) -> None:
        self.config = dict(mcp_config or {})
        self.clients: dict[str, Client] = {}
        self._tools: dict[str, _Tool] = {}
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> "McpToolbox":
        try:
            for name, entry in self.config.items():
                client = Client({"mcpServers": {name: _normalized_entry(name, entry)}})
                try:
                    await self._stack.enter_async_context(client)
                except Exception as exc:
                    raise HarnessError(f"could not connect to MCP server {name!r}: {exc}") from exc
                self.clients[name] = client
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._stack.aclose()

    async def refresh(self) -> list[_Tool]:
        """Lists every server's tools again (interfaces served mid-run add tools)."""
        prefixed = len(self.clients) > 1
        tools: dict[str, _Tool] = {}
        for server, client in self.clients.items():
            for tool in await client.list_tools():
                exposed = base = _fit(f"{server}_{tool.name}" if prefixed else tool.name)
                n = 1
                while exposed in tools:  # two names that only differ in characters the API refuses
                    n += 1
                    exposed = f"{base[:_NAME_LIMIT - len(str(n)) - 1]}_{n}"
                schema = dict(getattr(tool, "input_schema", None) or getattr(tool, "inputSchema", None) or {})
                schema.setdefault("type", "object")
                description = tool.description or getattr(tool, "title", None) or ""
                tools[exposed] = _Tool(exposed, server, tool.name, description, schema)
        self._tools = tools
        return list(tools.values())

    async def anthropic_tools(self) -> list[dict[str, Any]]:
        """The tool definitions for `messages.create(tools=...)`."""
        definitions = []
        for tool in await self.refresh():
            definition: dict[str, Any] = {"name": tool.exposed, "input_schema": tool.input_schema}
            if tool.description:
                definition["description"] = tool.description
            definitions.append(definition)
        return definitions

    def original(self, exposed: str) -> tuple[str, str] | None:
        """(server, tool name on it) of a name the model used."""
        tool = self._tools.get(exposed)
        return (tool.server, tool.name) if tool else None

    async def call(self, exposed: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Runs a tool; failures (an unknown tool, a lost server, an error result) come back as errors."""
        found = self.original(exposed)
        if found is None:
            await self.refresh()
            found = self.original(exposed)
        if found is None:
            known = ", ".join(sorted(self._tools)) or "none"
            return _error(f"unknown tool {exposed!r}; the tools are: {known}")
        server, name = found
        try:
            result = await self.clients[server].call_tool_mcp(name, arguments or {})
        except Exception as exc:  # the protocol failed, not the tool: still the model's to handle
            return _error(f"calling {name!r} on MCP server {server!r} failed: {type(exc).__name__}: {exc}")
        blocks = [_block(item) for item in result.content]
        structured = getattr(result, "structured_content", None)
        if not blocks and structured is not None:
            blocks = [{"type": "text", "text": json.dumps(structured, ensure_ascii=False, default=str)}]
        is_error = bool(getattr(result, "is_error", False))
        fields = (getattr(result, "meta", None) or {}).get("seer")
        return ToolOutcome(_text_of(blocks), blocks, is_error, structured, fields)


def _error(text: str) -> ToolOutcome:
    return ToolOutcome(text, [{"type": "text", "text": text}], True)


def _block(item: Any) -> dict[str, Any]:
    """An MCP content block as JSON the harness records."""
    kind = getattr(item, "type", None)
    if kind == "text":
        return {"type": "text", "text": item.text}
    if kind == "image":
        return {"type": "image", "mime_type": getattr(item, "mime_type", None) or item.mimeType, "data": item.data}
    if kind == "resource":
        resource = item.resource
        text = getattr(resource, "text", None)
        if text is not None:
            return {"type": "text", "text": text}
        return {"type": "text", "text": f"[resource {resource.uri} ({getattr(resource, 'mime_type', None)}): "
                                        "binary content not shown]"}
    if kind == "resource_link":
        return {"type": "text", "text": f"[resource link: {item.uri}]"}
    return {"type": "text", "text": f"[{kind} content not shown]"}


def _text_of(blocks: list[dict[str, Any]]) -> str:
    parts = [b["text"] if b["type"] == "text" else f"[image {b['mime_type']}]" for b in blocks]
    return "\n".join(parts)


def anthropic_content(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recorded blocks as `tool_result` content: text blocks, and images as base64 image blocks."""
    content: list[dict[str, Any]] = []
    for block in blocks:
        if block["type"] == "image" and block["mime_type"] in _IMAGE_TYPES:
            content.append({"type": "image", "source": {"type": "base64", "media_type": block["mime_type"],
                                                        "data": block["data"]}})
        elif block["type"] == "image":
            content.append({"type": "text", "text": f"[an image of type {block['mime_type']}, not shown]"})
        elif block["text"]:  # the API refuses empty text blocks
            content.append({"type": "text", "text": block["text"]})
    return content or [{"type": "text", "text": "(no output)"}]
