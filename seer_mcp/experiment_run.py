"""`seer-mcp run CONFIG [--dry-run]`: an agent on an experiment config, through the real server.

The server runs as `seer-mcp serve --experiment CONFIG` over stdio, as any MCP
client would start it; the agent (`seer_mcp.harness`, an optional extra) talks
to it. When the run ends, or on Ctrl-C, the server's stdin closes and it
terminates the experiment's sandbox on its way out.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TextIO

from seer_mcp.config import ExperimentConfig


def server_entry(config_path: Path) -> dict[str, Any]:
    """The MCP server entry that serves `config_path` in operator mode, over stdio."""
    return {"type": "stdio", "command": sys.executable,
            "args": ["-m", "seer_mcp", "serve", "--experiment", str(config_path.resolve())],
            "env": dict(os.environ)}  # the MCP SDK would otherwise pass only a minimal environment


async def dry_run(config: ExperimentConfig, out: TextIO = sys.stdout) -> dict[str, Any]:
    """Provisions the experiment through the real server, prints what the agent would get, and stops."""
    from fastmcp import Client

    assert config.source_path is not None
    entry = server_entry(config.source_path)
    async with Client({"mcpServers": {"seer": entry}}) as client:
        tools = await client.list_tools()
        instructions = client.instructions or ""
    prompt = config.task_prompt
    print(f"# experiment {config.experiment.name}: provisioned, then stopped (dry run)", file=out)
    print(f"\n## tools the agent gets ({len(tools)})", file=out)
    for tool in tools:
        first = (tool.description or "").strip().splitlines()[0] if tool.description else ""
        print(f"- {tool.name}: {first}", file=out)
    print("\n## the server's instructions\n" + instructions, file=out)
    print("\n## the task prompt\n" + (prompt or "(none: the config has no task)"), file=out)
    provider = config.agent.provider + (f" ({config.agent.model})" if config.agent.model else "")
    print(f"\n## agent\n{provider}; host tools {'on' if config.agent.allow_host_tools else 'off'}", file=out)
    return {"tools": [t.name for t in tools], "instructions": instructions, "prompt": prompt}


async def run(config: ExperimentConfig, out: TextIO = sys.stdout) -> int:
    """Runs the config's agent on its task prompt; prints its messages as they come."""
    try:
        from seer_mcp.harness import run_agent
    except ImportError as exc:
        raise SystemExit(f"seer-mcp run needs the harness: pip install 'seer-mcp[harness]' ({exc})") from exc
    if not config.task_prompt:
        raise SystemExit(f"{config.source_path}: the config has no task (experiment.task or task_file)")
    assert config.source_path is not None
    agent = config.agent
    async for message in run_agent(config.task_prompt, {"seer": server_entry(config.source_path)},
                                   provider=agent.provider, model=agent.model, allow_host_tools=agent.allow_host_tools,
                                   max_turns=agent.max_turns):
        print(str(message), file=out, flush=True)
    return 0


def load(path: str) -> ExperimentConfig:
    return ExperimentConfig.load(Path(path))
