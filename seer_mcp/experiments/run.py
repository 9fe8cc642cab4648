"""`seer-mcp run CONFIG [--dry-run]`: an agent on an experiment config, through the real server.

The server runs as `seer-mcp serve --experiment CONFIG` over stdio, as any MCP
client would start it; the agent (`seer_mcp.harness`, an optional extra) talks
to it. When the run ends, or on Ctrl-C, the server's stdin closes and it
terminates the experiment's sandbox on its way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any, Iterator, TextIO

from seer_mcp.experiments.config import ExperimentConfig


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
    with _ctrl_c_stops_the_run() as interrupted:
        try:
            async with contextlib.aclosing(run_agent(
                    config.task_prompt, {"seer": server_entry(config.source_path)}, provider=agent.provider,
                    model=agent.model, allow_host_tools=agent.allow_host_tools, max_turns=agent.max_turns)) as messages:
                async for message in messages:
                    if interrupted:
                        break  # the cancellation was absorbed on the way: stop here all the same
                    print(str(message), file=out, flush=True)
        except asyncio.CancelledError:
            if not interrupted:
                raise
    if interrupted:
        raise KeyboardInterrupt  # the caller reports the stop and exits 130
    return 0


@contextlib.contextmanager
def _ctrl_c_stops_the_run() -> Iterator[list[int]]:
    """Ctrl-C cancels the run, and is remembered: asyncio's own handling turns it into an exit
    code only if the cancellation survives the way out, and the MCP client's shutdown (anyio
    cancel scopes) can absorb it. A second Ctrl-C exits at once; the server, its stdin closed,
    still terminates the sandbox."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    interrupted: list[int] = []

    def on_ctrl_c() -> None:
        if interrupted:
            os._exit(130)
        interrupted.append(signal.SIGINT)
        if task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_ctrl_c)
    except (NotImplementedError, RuntimeError):  # no loop signal handlers here (Windows, not the main thread)
        yield interrupted
        return
    try:
        yield interrupted
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def load(path: str) -> ExperimentConfig:
    return ExperimentConfig.load(Path(path))
