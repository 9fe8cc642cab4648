"""Where a trivial cell's milliseconds go, hop by hop, each against its own floor in the same run.

Usage: python bench/cell_hops.py [--iterations N] [--json PATH]

One local sandbox with a notebook session, driven in this process (no stdio), and the pieces timed
one layer at a time (p50 of N, interleaved, after warm-ups):

  kernel        `x = 1` on a bare jupyter_client kernel over IPC (what the agent's kernel costs)
  agent/health  GET /health on the sandbox agent: one HTTP round trip over its Unix socket
  agent/cell    POST /sessions/{id}/execute on the agent: the HTTP hop, the kernel, the notebook write
  manager       SandboxManager.execute: + the registry lookup, activity bookkeeping, events
  mcp/memory    execute_code through fastmcp's in-memory client on a bound server: + tool dispatch and
                result shaping (no transport)
  mcp/noop      a no-op tool through the same in-memory client (the dispatch alone)
  shaping       what execute_code does to a one-line printed output before it is sent: the output
                budget, the text block, the status line and _meta (part of mcp/memory's own)
  notebook      the agent's notebook save after a cell (the same file size), durable and not

Each agent hop is timed twice: through seer-mcp's own Unix-socket transport
(`seer_mcp.manager.transport`) and through httpx's `AsyncHTTPTransport(uds=...)`, on the same
client code, to show what the hand-written transport earns. The differences between adjacent rows
are each layer's own cost. The stdio hop (client <-> server) is `cell_roundtrip.py`'s floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from fastmcp import Client, FastMCP

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cell_roundtrip import CELL, Stats, kernel_cell, sample, start_kernel, stop_kernel, timed  # noqa: E402

from seer_mcp.backends.base import AgentAddress  # noqa: E402
from seer_mcp.manager.agent_client import SandboxAgentClient  # noqa: E402
from seer_mcp.manager.facade import SandboxManager  # noqa: E402
from seer_mcp.manager.scope import Scope  # noqa: E402
from seer_mcp.server.app import build_bound_server  # noqa: E402
from seer_mcp.settings import Settings  # noqa: E402
from seer_mcp.spec import SandboxSpec  # noqa: E402
from seer_mcp.tools.cells import cell_result  # noqa: E402
from seer_mcp.tools.groups import TOOL_GROUPS  # noqa: E402

WARMUP = 20


def _notebook_saves(tmp: Path, cells: int) -> dict[str, Any]:
    """The agent's notebook save for a notebook of `cells` trivial cells: durable (fsync) and not."""
    from seer_mcp.fileio import write_atomically

    data = (b'{"cell_type": "code", "source": "x = 1", "outputs": []},\n' * cells)
    path = tmp / "bench.ipynb"
    out = {}
    for name, durable in (("durable", True), ("no_fsync", False)):
        def save(durable: bool = durable) -> None:
            write_atomically(path, data, durable=durable)
        times = []
        for _ in range(200):
            start = time.perf_counter()
            save()
            times.append(time.perf_counter() - start)
        out[name] = Stats.of(times)
    return out


async def measure(n: int, tmp: Path) -> dict[str, Stats]:
    settings = Settings(state_dir=tmp / "state", outputs_dir=tmp / "outputs", terminate_on_exit=True,
                        _env_file=None)
    async with SandboxManager(settings) as manager:
        sandbox = await manager.create_sandbox(SandboxSpec())
        sandbox_id = sandbox["sandbox_id"]
        session = await manager.start_session(sandbox_id, "bench")
        session_id = session["session_id"]
        handle = manager.sandbox(sandbox_id).record.handle
        address = AgentAddress(token=handle["token"], socket_path=handle["socket"])
        ours = SandboxAgentClient(address)
        theirs = SandboxAgentClient(address)
        await theirs._transport.aclose()
        theirs._transport = httpx.AsyncHTTPTransport(uds=handle["socket"])  # the same client, httpx's transport
        bound = build_bound_server(manager, Scope(session_id=session_id, sandbox_id=sandbox_id),
                                   set(TOOL_GROUPS["all"]), "bench")
        bare = FastMCP("bare")

        @bare.tool
        def noop() -> str:
            return "ok"

        printed, printed_in = await manager.execute(session_id, "print('hello')", 60)

        async def shaping() -> None:  # what execute_code makes of a result before it is sent
            cell_result(settings, printed, printed_in)

        km, kc = await start_kernel(tmp)
        try:
            async with Client(bound) as memory, Client(bare) as bare_client:
                probes = {
                    "kernel": timed(lambda: kernel_cell(kc)),
                    "agent/health ours": timed(ours.health),
                    "agent/health httpx-uds": timed(theirs.health),
                    "agent/cell ours": timed(lambda: ours.execute(session_id, CELL, 60)),
                    "agent/cell httpx-uds": timed(lambda: theirs.execute(session_id, CELL, 60)),
                    "manager": timed(lambda: manager.execute(session_id, CELL, 60)),
                    "mcp/memory": timed(lambda: memory.call_tool("execute_code", {"code": CELL})),
                    "mcp/noop": timed(lambda: bare_client.call_tool("noop", {})),
                    "shaping": timed(shaping),
                }
                stats = await sample(probes, n, WARMUP)
        finally:
            await stop_kernel(km, kc)
            await ours.close()
            await theirs.close()
        cells = (await manager.read_notebook(session_id, 0, 1)).total_cells
        stats |= {f"notebook {k}": v for k, v in _notebook_saves(tmp, cells).items()}
        await manager.terminate_sandbox(sandbox_id)
    return stats


def report(stats: dict[str, Stats]) -> dict[str, Any]:
    p = {name: s.p50_ms for name, s in stats.items()}
    print(f"\n{'':<28}{'p50 ms':>9}{'p90 ms':>9}  layer's own (p50 difference)")
    own = {
        "kernel": None,
        "agent/health ours": None,
        "agent/health httpx-uds": None,
        "agent/cell ours": p["agent/cell ours"] - p["kernel"] - p["agent/health ours"],
        "agent/cell httpx-uds": p["agent/cell httpx-uds"] - p["kernel"] - p["agent/health httpx-uds"],
        "manager": p["manager"] - p["agent/cell ours"],
        "mcp/memory": p["mcp/memory"] - p["manager"],
        "mcp/noop": None,
        "shaping": None,
    }
    for name, s in stats.items():
        extra = ""
        if own.get(name) is not None:
            extra = f"  {own[name]:+.2f}"
        print(f"  {name:<26}{s.p50_ms:>9.2f}{s.p90_ms:>9.2f}{extra}")
    print("\n  agent's own per cell (HTTP framing aside: notebook, bookkeeping):"
          f" {own['agent/cell ours']:.2f} ms; notebook save {p['notebook durable']:.2f} ms durable,"
          f" {p['notebook no_fsync']:.2f} ms without fsync")
    print(f"  the transport: health {p['agent/health ours']:.2f} ms ours vs {p['agent/health httpx-uds']:.2f} ms httpx"
          f" (uds=); cell {p['agent/cell ours']:.2f} vs {p['agent/cell httpx-uds']:.2f} ms")
    print(f"  server's own on top of the agent: manager {own['manager']:.2f} ms, tool dispatch + shaping"
          f" {own['mcp/memory']:.2f} ms (a bare no-op's dispatch: {p['mcp/noop']:.2f} ms; the shaping of a"
          f" printed line: {p['shaping']:.3f} ms)\n")
    return {"p50_ms": p, "own_ms": {k: v for k, v in own.items() if v is not None},
            "stats": {k: vars(v) for k, v in stats.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory(prefix="seer-hops-", ignore_cleanup_errors=True) as tmp:
        stats = asyncio.run(measure(args.iterations, Path(tmp)))
    figures = report(stats)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
