"""A bare FastMCP server with one no-op tool, served over stdio.

It is the MCP half of the floor in `cell_roundtrip.py`: what one tool call costs
through fastmcp's stdio transport when the tool itself does nothing.
"""

from __future__ import annotations

import asyncio

from fastmcp import FastMCP

mcp = FastMCP("bare")


@mcp.tool
def noop() -> str:
    """Do nothing."""
    return "ok"


if __name__ == "__main__":
    # Started the same way as `seer-mcp serve` (see seer_mcp/cli.py).
    asyncio.run(mcp.run_stdio_async(show_banner=False))
