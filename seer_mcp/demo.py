"""`seer-mcp demo`: a short experiment run through the real server over real MCP stdio.

It starts `seer-mcp serve` as a subprocess, as Claude Code would, creates a
local sandbox, and runs notebook cells in it: a tiny transformer built with
torch, a look at its attention, a plot, and a deliberate error. It prints what
the agent would see and where the notebook was saved. No account, no GPU.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import mcp_types
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

CELLS = [
    ("Build a tiny transformer layer and feed it a batch",
     "import torch\ntorch.manual_seed(0)\n"
     "layer = torch.nn.TransformerEncoderLayer(d_model=32, nhead=4, batch_first=True).eval()\n"
     "x = torch.randn(2, 6, 32)\nout = layer(x)\nprint('output shape:', tuple(out.shape))"),
    ("State persists: reuse `layer` and `x` from the previous cell",
     "attn = layer.self_attn(x, x, x, need_weights=True)[1]\n"
     "print('attention rows sum to 1:', torch.allclose(attn.sum(-1), torch.ones(2, 6)))\nattn[0].argmax(-1)"),
    ("A plot comes back as an image",
     "import matplotlib.pyplot as plt\nplt.figure(figsize=(4, 3))\n"
     "plt.imshow(attn[0].detach(), cmap='viridis')\nplt.title('attention, batch 0')\nplt.colorbar()\nplt.show()"),
    ("An error comes back as an error, with its traceback",
     "layer(torch.randn(2, 6, 31))"),
]


def _describe(result: Any) -> str:
    parts = []
    for block in result.content:
        if isinstance(block, mcp_types.ImageContent):
            parts.append(f"[image {block.mime_type}, {len(block.data) * 3 // 4:,} bytes]")
        else:
            text = getattr(block, "text", "").strip()
            lines = text.splitlines()
            parts.append("\n".join(lines[-4:]) if len(lines) > 4 else text)
    return "\n".join(parts)


async def run_demo() -> int:
    transport = StdioTransport(command=sys.executable, args=["-m", "seer_mcp", "serve"], env=dict(os.environ))
    async with Client(transport) as client:
        tools = await client.list_tools()
        print(f"connected to seer-mcp over stdio: {len(tools)} tools")
        sandbox = (await client.call_tool("create_sandbox", {"name": "demo"})).structured_content
        print(f"sandbox {sandbox['sandbox_id']} ({sandbox['backend']}) at {sandbox['workspace_path']}")
        session = (await client.call_tool("start_session", {"name": "demo"})).structured_content
        notebook = session["notebook_copy"]
        try:
            for title, code in CELLS:
                result = await client.call_tool("execute_code", {"code": code}, raise_on_error=False)
                status = result.structured_content["status"]
                print(f"\n--- {title}  [{status}]")
                print(_describe(result))
            await client.call_tool("add_markdown", {"content": "Demo finished: every cell above is saved here."})
        finally:
            await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox["sandbox_id"]})
    print(f"\nnotebook saved: {notebook}")
    return 0


def main() -> int:
    return asyncio.run(run_demo())
