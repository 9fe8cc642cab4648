"""Many sandboxes on one machine, and one long session: throughput, the server's RSS and descriptors.

Usage: python bench/scale.py [--sandboxes 32] [--cells 1000] [--window 5] [--json PATH]

One `python -m seer_mcp serve` over stdio (the official SDK's client), throwaway state:

1. **Many sandboxes.** `--sandboxes` local sandboxes, each with a notebook session (created 4 at a
   time). Then trivial cells (`x = 1`) for a fixed window: one caller on one session (the
   baseline), and one caller per session, all at once. Reported: cells per second of each and their
   ratio, and the server's RSS and open file descriptors before and with every sandbox up (and
   per sandbox). On 2 cores the parallel rate is bounded by CPU, not by seer-mcp: its ratio to
   the single-session rate says how much of the machine's parallelism reaches the kernels.
2. **A long session.** `--cells` cells in one session; the server's RSS every 100 cells. Target:
   flat (the last sample within 10 MiB of the first after warm-up), so a long investigation does not
   grow the server. The cell's p50 latency at the start and at the end shows whether a long
   notebook slows each cell down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cell_roundtrip import SdkClient, Seer, Stats  # noqa: E402

FLAT_MIB = 10.0
_MIB = 1024 * 1024


def _server(client: SdkClient) -> psutil.Process:
    """The `seer-mcp serve` process this client started (a child of this process)."""
    for child in psutil.Process().children(recursive=True):
        if "seer_mcp" in " ".join(child.cmdline()) and "serve" in child.cmdline():
            return child
    raise RuntimeError("the seer-mcp server process was not found")


def _usage(process: psutil.Process) -> dict[str, float]:
    return {"rss_mib": process.memory_info().rss / _MIB, "fds": process.num_fds()}


async def _rate(calls: list[Any], window: float) -> float:
    """Cells per second: each of `calls` (a coroutine factory) runs back to back for `window` seconds."""
    done = 0
    deadline = time.monotonic() + window

    async def loop(call: Any) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await call()
            done += 1

    start = time.monotonic()
    await asyncio.gather(*(loop(call) for call in calls))
    return done / (time.monotonic() - start)


async def measure(sandboxes: int, cells: int, window: float, tmp: Path) -> dict[str, Any]:
    env = {"SEER_STATE_DIR": str(tmp / "state"), "SEER_OUTPUTS_DIR": str(tmp / "outputs"),
           "SEER_TERMINATE_ON_EXIT": "1", "SEER_IDLE_TIMEOUT": "3600"}
    out: dict[str, Any] = {}
    async with SdkClient(["-m", "seer_mcp", "serve"], env, tmp, tmp / "seer_mcp.log") as client:
        seer = Seer(client)
        server = _server(client)
        try:
            first = await seer.open_session()
            for _ in range(20):
                await seer.cell(first)
            out["idle_server"] = _usage(server)
            print(f"starting {sandboxes} sandboxes ...", file=sys.stderr)
            started = time.monotonic()
            sessions = [first]
            gate = asyncio.Semaphore(4)

            async def one() -> str:
                async with gate:
                    return await seer.open_session()
            sessions += await asyncio.gather(*(one() for _ in range(sandboxes - 1)))
            out["start_all_s"] = time.monotonic() - started
            for session in sessions:
                await seer.cell(session)
            out["with_all"] = _usage(server)
            print("measuring throughput ...", file=sys.stderr)
            out["one_session_cells_per_s"] = await _rate([lambda: seer.cell(first)], window)
            out["all_sessions_cells_per_s"] = await _rate([lambda s=s: seer.cell(s) for s in sessions], window)
            await seer.terminate_all()

            print(f"{cells} cells in one session ...", file=sys.stderr)
            long_session = await seer.open_session()
            rss: list[float] = []
            latencies: list[float] = []
            for index in range(cells):
                begin = time.perf_counter()
                await seer.cell(long_session)
                latencies.append(time.perf_counter() - begin)
                if index % 100 == 99:
                    rss.append(server.memory_info().rss / _MIB)
            out["long_rss_mib"] = rss
            out["long_first_100"] = vars(Stats.of(latencies[:100]))
            out["long_last_100"] = vars(Stats.of(latencies[-100:]))
            out["long_fds"] = server.num_fds()
        finally:
            await seer.terminate_all()
    return out


def report(sandboxes: int, figures: dict[str, Any]) -> None:
    idle, full = figures["idle_server"], figures["with_all"]
    one, all_ = figures["one_session_cells_per_s"], figures["all_sessions_cells_per_s"]
    print(f"\n1. {sandboxes} sandboxes, a session each (started in {figures['start_all_s']:.1f} s, 4 at a time)")
    print(f"  cells/s: one session {one:.0f}, all {sandboxes} at once {all_:.0f}  ({all_ / one:.2f}x)")
    print(f"  server RSS {idle['rss_mib']:.0f} MiB with one sandbox, {full['rss_mib']:.0f} MiB with {sandboxes} "
          f"({(full['rss_mib'] - idle['rss_mib']) / max(1, sandboxes - 1):.2f} MiB each)")
    print(f"  server open fds {idle['fds']:.0f} with one, {full['fds']:.0f} with {sandboxes} "
          f"({(full['fds'] - idle['fds']) / max(1, sandboxes - 1):.1f} each)")
    rss = figures["long_rss_mib"]
    growth = rss[-1] - rss[0] if rss else 0.0
    flat = abs(growth) <= FLAT_MIB
    print(f"\n2. {len(rss) * 100} cells in one session: server RSS every 100 cells (MiB): "
          + " ".join(f"{value:.0f}" for value in rss))
    print(f"  growth from the first sample to the last: {growth:+.1f} MiB   target within {FLAT_MIB:g} MiB   "
          + ("PASS" if flat else "FAIL  <<<"))
    print(f"  cell p50: {figures['long_first_100']['p50_ms']:.2f} ms over the first 100, "
          f"{figures['long_last_100']['p50_ms']:.2f} ms over the last 100; server fds at the end "
          f"{figures['long_fds']}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sandboxes", type=int, default=32)
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--window", type=float, default=5.0, help="seconds each throughput figure runs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.sandboxes < 1 or args.cells < 100:
        parser.error("--sandboxes >= 1 and --cells >= 100")
    with tempfile.TemporaryDirectory(prefix="seer-scale-", ignore_cleanup_errors=True) as tmp:
        figures = asyncio.run(measure(args.sandboxes, args.cells, args.window, Path(tmp)))
    report(args.sandboxes, figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
