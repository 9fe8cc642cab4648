"""What isolation costs a local sandbox: the same measurements with namespaces and without, in one run.

Usage: python bench/isolation_cost.py [--creates M] [--cells N]

Two servers with throwaway state, one with SEER_ISOLATION=namespaces and one with
SEER_ISOLATION=none, driven in-process through fastmcp.Client, sampled interleaved (one of
each per iteration) so that load from elsewhere falls on both alike:

1. create -> first cell: create_sandbox + start_session + execute_code("x = 1"), M times each;
   target: namespaces adds at most 0.3 s to the p50.
2. cell round trip: execute_code("x = 1") N times in one session of each;
   target: namespaces adds at most 5% to the p50.

Prints each p50 and the differences; FAIL where a target is missed (exit 0: it measures).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from fastmcp import Client

from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings


def settings_for(isolation: str, root: Path) -> Settings:
    return Settings(state_dir=root / isolation / "state", outputs_dir=root / isolation / "outputs",
                    isolation=isolation, terminate_on_exit=True, _env_file=None)


async def create_to_first_cell(client: Client) -> float:
    started = time.perf_counter()
    sandbox = (await client.call_tool("create_sandbox", {})).structured_content["sandbox_id"]
    session = (await client.call_tool("start_session", {"sandbox_id": sandbox})).structured_content["session_id"]
    await client.call_tool("execute_code", {"code": "x = 1", "session_id": session})
    elapsed = time.perf_counter() - started
    await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox})
    return elapsed


async def open_session(client: Client) -> str:
    sandbox = (await client.call_tool("create_sandbox", {})).structured_content["sandbox_id"]
    session = (await client.call_tool("start_session", {"sandbox_id": sandbox})).structured_content["session_id"]
    for _ in range(5):
        await client.call_tool("execute_code", {"code": "x = 1", "session_id": session})
    return session


async def cell(client: Client, session: str) -> float:
    started = time.perf_counter()
    await client.call_tool("execute_code", {"code": "x = 1", "session_id": session})
    return time.perf_counter() - started


async def main(creates: int, cells: int) -> None:
    with tempfile.TemporaryDirectory(prefix="seer-bench-iso-") as tmp:
        root = Path(tmp)
        async with Client(build_server(settings_for("namespaces", root))) as isolated, \
                Client(build_server(settings_for("none", root))) as plain:
            starts: dict[str, list[float]] = {"namespaces": [], "none": []}
            for _ in range(creates):
                starts["namespaces"].append(await create_to_first_cell(isolated))
                starts["none"].append(await create_to_first_cell(plain))
            sessions = {"namespaces": await open_session(isolated), "none": await open_session(plain)}
            rounds: dict[str, list[float]] = {"namespaces": [], "none": []}
            for _ in range(cells):
                rounds["namespaces"].append(await cell(isolated, sessions["namespaces"]))
                rounds["none"].append(await cell(plain, sessions["none"]))
    start_iso, start_plain = statistics.median(starts["namespaces"]), statistics.median(starts["none"])
    cell_iso, cell_plain = statistics.median(rounds["namespaces"]), statistics.median(rounds["none"])
    added = start_iso - start_plain
    ratio = cell_iso / cell_plain
    print(f"create -> first cell p50: namespaces {start_iso:.3f} s, none {start_plain:.3f} s, "
          f"added {added:+.3f} s (target <= 0.3 s) {'ok' if added <= 0.3 else 'FAIL'}")
    print(f"cell round trip p50: namespaces {cell_iso * 1000:.2f} ms, none {cell_plain * 1000:.2f} ms, "
          f"ratio {ratio:.3f}x (target <= 1.05x) {'ok' if ratio <= 1.05 else 'FAIL'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=8)
    parser.add_argument("--cells", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.creates, args.cells))
