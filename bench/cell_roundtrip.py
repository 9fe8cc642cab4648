"""How much seer-mcp adds to a notebook cell, measured against a floor from the same run.

Usage: python bench/cell_roundtrip.py [--iterations N] [--create-iterations M] [--json PATH]

1. Trivial cell round trip. `execute_code(code="x = 1")` is called N times through a real
   MCP stdio client (fastmcp.Client over a StdioTransport that launches
   `python -m seer_mcp serve`), after create_sandbox, start_session and a few warm-up cells.
   Its floor is what the same call cannot avoid costing, the sum of two p50s:
     (a) one MCP tool call: a no-op tool on a bare FastMCP server (bench/bare_server.py),
         launched and called over stdio the same way;
     (b) one Jupyter cell: `x = 1` on a bare jupyter_client kernel (IPC transport, like
         seer-mcp's kernels), with execute_interactive: until the reply and idle status arrive.
   Everything seer-mcp does on top (its agent hop, notebook bookkeeping, result shaping)
   shows up as seer/floor above 1. Target: <= 1.3x.

2. Sandbox create -> first cell result. Through the same client, the time from calling
   create_sandbox to the result of the first execute_code (create_sandbox + start_session +
   execute_code), M times; each sandbox is terminated afterwards, untimed. Target: p50 <= 2 s.
   Its baseline: starting a bare jupyter_client kernel and running one cell (p50 over M).

The seer-mcp server runs with throwaway state (SEER_STATE_DIR, SEER_OUTPUTS_DIR and its
working directory in a temporary directory). The script exits 0 when a target is missed:
it measures, it does not test; the FAIL is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import itertools
import json
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

CELL = "x = 1"
WARMUP = 10
ROUNDTRIP_TARGET_RATIO = 1.3
CREATE_TARGET_S = 2.0
CALL_TIMEOUT_S = 120.0
BARE_SERVER = Path(__file__).resolve().parent / "bare_server.py"
_KERNEL_IDS = itertools.count()


@dataclass
class Stats:
    n: int
    p50_ms: float
    p90_ms: float
    mean_ms: float

    @classmethod
    def of(cls, samples_s: list[float]) -> Stats:
        ms = sorted(s * 1000 for s in samples_s)
        return cls(len(ms), _percentile(ms, 0.5), _percentile(ms, 0.9), sum(ms) / len(ms))


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


async def _time(n: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


def _stdio_client(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Client[StdioTransport]:
    # keep_alive=False: the subprocess ends when the client's context exits.
    transport = StdioTransport(sys.executable, args, env={"PYTHONUTF8": "1", **env}, cwd=str(cwd),
                               keep_alive=False, log_file=log)
    return Client(transport, timeout=CALL_TIMEOUT_S, init_timeout=60)


# ----- floor: bare MCP server, bare kernel ---------------------------------------------


async def bare_mcp_noop(n: int, tmp: Path) -> list[float]:
    async with _stdio_client([str(BARE_SERVER)], {}, tmp, tmp / "bare_server.log") as client:
        async def noop() -> None:
            await client.call_tool("noop", {})

        await _time(WARMUP, noop)
        return await _time(n, noop)


async def _start_kernel(tmp: Path) -> tuple[AsyncKernelManager, AsyncKernelClient]:
    """A bare kernel on IPC transport, as seer-mcp's agent starts its kernels."""
    ipc = tmp / f"kernel-{next(_KERNEL_IDS)}"
    km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(ipc))
    km.connection_file = f"{ipc}.json"
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    return km, kc


async def _stop_kernel(km: AsyncKernelManager, kc: AsyncKernelClient) -> None:
    kc.stop_channels()
    await km.shutdown_kernel(now=True)


async def _kernel_cell(kc: AsyncKernelClient) -> None:
    reply = await kc.execute_interactive(CELL, timeout=30)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"bare kernel cell failed: {reply['content']}")


async def bare_kernel_cell(n: int, tmp: Path) -> list[float]:
    km, kc = await _start_kernel(tmp)
    try:
        await _time(WARMUP, lambda: _kernel_cell(kc))
        return await _time(n, lambda: _kernel_cell(kc))
    finally:
        await _stop_kernel(km, kc)


async def bare_kernel_start_and_cell(m: int, tmp: Path) -> list[float]:
    samples = []
    for _ in range(m):
        start = time.perf_counter()
        km, kc = await _start_kernel(tmp)
        try:
            await _kernel_cell(kc)
            samples.append(time.perf_counter() - start)
        finally:
            await _stop_kernel(km, kc)
    return samples


# ----- seer-mcp ---------------------------------------------------------------------------


def _structured(result: Any) -> dict[str, Any]:
    data = result.structured_content
    if not isinstance(data, dict):
        raise RuntimeError(f"expected structured content, got {result!r}")
    return data


async def _seer_cell(client: Client[StdioTransport], session_id: str) -> None:
    result = await client.call_tool("execute_code", {"code": CELL, "session_id": session_id})
    if _structured(result).get("status") != "ok":
        raise RuntimeError(f"execute_code failed: {result!r}")


async def _seer_open(client: Client[StdioTransport], opened: list[str]) -> str:
    """create_sandbox + start_session; records the sandbox in `opened`, returns the session id."""
    sandbox_id = str(_structured(await client.call_tool("create_sandbox", {}))["sandbox_id"])
    opened.append(sandbox_id)
    session = _structured(await client.call_tool("start_session", {"sandbox_id": sandbox_id}))
    return str(session["session_id"])


async def _seer_close(client: Client[StdioTransport], opened: list[str]) -> None:
    while opened:
        await client.call_tool("terminate_sandbox", {"sandbox_id": opened.pop()})


async def seer(n: int, m: int, tmp: Path) -> tuple[list[float], list[float]]:
    """(execute_code round trips, create_sandbox -> first cell result times)."""
    env = {"SEER_STATE_DIR": str(tmp / "state"), "SEER_OUTPUTS_DIR": str(tmp / "outputs")}
    async with _stdio_client(["-m", "seer_mcp", "serve"], env, tmp, tmp / "seer_mcp.log") as client:
        opened: list[str] = []
        try:
            session_id = await _seer_open(client, opened)
            await _time(WARMUP, lambda: _seer_cell(client, session_id))
            roundtrip = await _time(n, lambda: _seer_cell(client, session_id))
            await _seer_close(client, opened)

            create = []
            for _ in range(m):
                start = time.perf_counter()
                await _seer_cell(client, await _seer_open(client, opened))
                create.append(time.perf_counter() - start)
                await _seer_close(client, opened)
        finally:
            await _seer_close(client, opened)
    return roundtrip, create


# ----- report -------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL  <<<"


def _row(label: str, s: Stats) -> str:
    return f"  {label:<38}{s.p50_ms:>10.2f}{s.p90_ms:>10.2f}{s.mean_ms:>10.2f}"


def report(n: int, m: int, noop: Stats, kcell: Stats, cell: Stats, kstart: Stats,
           create: Stats) -> dict[str, Any]:
    floor = noop.p50_ms + kcell.p50_ms
    ratio = cell.p50_ms / floor
    create_ratio = create.p50_ms / kstart.p50_ms
    rt_ok, create_ok = ratio <= ROUNDTRIP_TARGET_RATIO, create.p50_ms <= CREATE_TARGET_S * 1000
    header = f"  {'':<38}{'p50 ms':>10}{'p90 ms':>10}{'mean ms':>10}"
    print(f"\n1. trivial cell round trip ({CELL!r}), N={n}, {WARMUP} warm-ups each\n{header}")
    print(_row("seer-mcp execute_code (stdio)", cell))
    print(_row("floor (a): bare FastMCP no-op (stdio)", noop))
    print(_row("floor (b): bare jupyter_client cell", kcell))
    print(f"  {'floor p50 (a)+(b)':<38}{floor:>10.2f}")
    print(f"  seer/floor = {ratio:.2f}x   target <= {ROUNDTRIP_TARGET_RATIO}x   {_verdict(rt_ok)}")
    print(f"\n2. sandbox create -> first cell result, M={m}\n{header}")
    print(_row("seer-mcp create+session+execute_code", create))
    print(_row("baseline: bare kernel start + cell", kstart))
    print(f"  seer/baseline = {create_ratio:.2f}x")
    print(f"  p50 = {create.p50_ms / 1000:.3f} s   target <= {CREATE_TARGET_S:g} s   {_verdict(create_ok)}\n")
    return {
        "cell_roundtrip": {
            "iterations": n, "warmup": WARMUP, "seer_execute_code": asdict(cell),
            "floor_bare_mcp_noop": asdict(noop), "floor_bare_kernel_cell": asdict(kcell),
            "floor_p50_ms": floor, "ratio": ratio, "target_ratio": ROUNDTRIP_TARGET_RATIO, "pass": rt_ok,
        },
        "create_to_first_cell": {
            "iterations": m, "seer": asdict(create), "baseline_bare_kernel_start_and_cell": asdict(kstart),
            "ratio": create_ratio, "target_p50_s": CREATE_TARGET_S, "pass": create_ok,
        },
        "environment": {
            "python": platform.python_version(), "platform": platform.platform(),
            **{pkg: importlib.metadata.version(pkg)
               for pkg in ("seer-mcp", "fastmcp", "mcp", "jupyter_client", "ipykernel")},
        },
    }


async def main_async(n: int, m: int, tmp: Path) -> dict[str, Any]:
    # One after another: on a small machine, parallel runs would distort each other.
    print("measuring floor (a): bare FastMCP server ...", file=sys.stderr)
    noop = Stats.of(await bare_mcp_noop(n, tmp))
    print("measuring floor (b): bare kernel cell ...", file=sys.stderr)
    kcell = Stats.of(await bare_kernel_cell(n, tmp))
    print("measuring baseline: bare kernel start + cell ...", file=sys.stderr)
    kstart = Stats.of(await bare_kernel_start_and_cell(m, tmp))
    print("measuring seer-mcp ...", file=sys.stderr)
    try:
        cell, create = await seer(n, m, tmp)
    except Exception:
        log = tmp / "seer_mcp.log"
        tail = log.read_text(errors="replace").splitlines()[-30:] if log.exists() else []
        print("seer-mcp failed; its log ends with:\n" + "\n".join(tail), file=sys.stderr)
        raise
    return report(n, m, noop, kcell, Stats.of(cell), kstart, Stats.of(create))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="timed cells per round-trip figure")
    parser.add_argument("--create-iterations", type=int, default=5, help="timed sandbox creations")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args()
    if args.iterations < 1 or args.create_iterations < 1:
        parser.error("iterations must be >= 1")
    with tempfile.TemporaryDirectory(prefix="seer-bench-", ignore_cleanup_errors=True) as tmp:
        figures = asyncio.run(main_async(args.iterations, args.create_iterations, Path(tmp)))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
