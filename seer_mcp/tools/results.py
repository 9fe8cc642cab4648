"""What a tool result carries, so that every client's model receives all of it.

Clients hand their model different fields of a `CallToolResult`:

* Claude Code and Codex forward only `structuredContent` (as JSON text) when a
  successful result has it, and keep images;
* Claude Desktop, the Inspector, langchain and openai-agents forward `content`;
* google-genai forwards the whole result, both fields;
* smolagents (without `structured_output`) keeps only the first text block.

So a result is one of two shapes:

* an **output** (a cell, a shell command, a file read, an interface call, a
  notebook page) is `content` only: ONE text block that holds all of its text
  (what was printed, the error and its traceback, cut markers naming where the
  full output lives, and a closing status line), then its images, each named in
  the text where it appeared. No `structuredContent`, so no client drops the
  text and none receives it twice. Programs read its fields from `_meta["seer"]`,
  which no client shows its model, and which holds no output.
* a **record** (create_sandbox, list_sandboxes, snapshots, ...) is small JSON:
  `structuredContent`, and the same JSON as its text (FastMCP's default for a
  tool that returns a dict).
"""

from __future__ import annotations

from typing import Any, Sequence

import mcp_types
from fastmcp.tools import ToolResult

__all__ = ["META_KEY", "output_result", "status_line"]

# Where an output result keeps its fields for programs (`result.meta["seer"]`).
META_KEY = "seer"

Block = mcp_types.TextContent | mcp_types.ImageContent


def status_line(*parts: str) -> str:
    """The closing line of an output: `[cell 3 · ok · 0.12 s]`."""
    return "[" + " · ".join(part for part in parts if part) + "]"


def output_result(blocks: Sequence[Block], status: str, meta: dict[str, Any], is_error: bool = False) -> ToolResult:
    """An output's result: one text block (all text, images named in place, `status` last), then the images."""
    texts: list[str] = []
    images: list[mcp_types.ImageContent] = []
    for block in blocks:
        if isinstance(block, mcp_types.ImageContent):
            images.append(block)
            texts.append(f"[image {len(images)}: {block.mime_type}, attached below]")
        elif block.text:
            texts.append(block.text)
    texts.append(status)
    text = "".join(piece if piece.endswith("\n") else piece + "\n" for piece in texts[:-1]) + texts[-1]
    content: list[Block] = [mcp_types.TextContent(type="text", text=text), *images]
    return ToolResult(content=content, meta={META_KEY: meta}, is_error=is_error)
