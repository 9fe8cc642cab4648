"""A bare FastMCP server with one no-op tool, served over stdio.

It is the MCP half of the floor in `cell_roundtrip.py`: what one tool call costs
through fastmcp's stdio transport when the tool itself does nothing. With `--loop` it is
served as `seer-mcp serve` serves pipes (`seer_mcp.server.stdio_loop`): the same call on
seer-mcp's own stdio transport, so the transport's share can be told from the rest.
"""

from __future__ import annotations

import asyncio
import sys

from fastmcp import FastMCP

mcp = FastMCP("bare")


@mcp.tool
def noop() -> str:
    """Do nothing."""
    return "ok"


if __name__ == "__main__":
    if "--loop" in sys.argv[1:]:
        from seer_mcp.server.stdio_loop import run_stdio

        asyncio.run(run_stdio(mcp))
    else:
        asyncio.run(mcp.run_stdio_async(show_banner=False))
