"""What seer-mcp adds to a call of an exposed interface function, against a floor from the same run.

Usage: python bench/interface_calls.py [--iterations N] [--window SECONDS] [--json PATH]

An interface file with two no-op functions, `noop` (`@expose`: one call at a time) and
`noop_ts` (`@expose(thread_safe=True)`), is served in one sandbox with serve_interface(name="bench",
expose_as="mcp"), which makes them tools `bench_noop` and `bench_noop_ts`. Every call goes through a
real MCP stdio client (fastmcp.Client over a StdioTransport that launches `python -m seer_mcp serve`,
as in cell_roundtrip.py, whose helpers this reuses).

1. Call latency. `bench_noop` is called N times after warm-ups. Its floor is the sum of two p50s:
     (a) one MCP tool call: a no-op tool on a bare FastMCP server (bench/bare_server.py) over stdio;
     (b) one bare jupyter_client kernel round trip of `x = 1` (IPC transport, like seer-mcp's kernels).
   (b) stands for the hop from the server into a sandbox process and back, which any design pays.
   Everything else (the agent's HTTP hop, the worker's pipe and thread, result shaping) shows up
   as seer/floor above 1. Target: p50 <= 1.3x.
   Breakdown, not judged: the same no-op called straight on the sandbox agent over its Unix socket,
   through the stdlib client module that serve_interface(expose_as="library") writes (interface
   "benchlib", same file): the agent + worker share of the call, without MCP and the server.

2. Sustained throughput. Calls completed in a fixed window (--window, default 3 s), one call at a
   time and with 8 concurrent callers on the same client (asyncio.gather); concurrently also for
   `bench_noop_ts`, whose calls may overlap in the worker. The bare FastMCP no-op is measured the
   same way, as a ceiling. Target: sequential `bench_noop` >= 100 calls/s (concurrent figures are
   printed, not judged).

Latency samples of seer and floor are taken interleaved, one of each per iteration, so load from
elsewhere falls on both alike. seer-mcp runs with throwaway state in a temporary directory. The
script exits 0 when a target is missed: it measures, it does not test; FAIL is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import importlib.util
import json
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # cell_roundtrip.py sits next to this file

import cell_roundtrip as cr  # noqa: E402

INTERFACE, LIBRARY = "bench", "benchlib"
INTERFACE_CODE = '''\
@expose
def noop() -> None:
    """Do nothing, one call at a time."""
    return None


@expose(thread_safe=True)
def noop_ts() -> None:
    """Do nothing; calls may overlap."""
    return None
'''
CALLERS = 8
LATENCY_TARGET_RATIO = 1.3
THROUGHPUT_TARGET = 100.0  # calls/s, sequential
WINDOW_WARMUP_S = 0.3


@dataclass
class Rate:
    calls: int
    seconds: float
    per_s: float


async def throughput(call: Callable[[], Awaitable[object]], window_s: float, callers: int) -> Rate:
    """Calls completed by `callers` loops that each start calls until the window closes."""
    done = 0

    async def caller(deadline: float) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    # A short untimed run first: the timed window should not include ramping up to `callers` in flight.
    await asyncio.gather(*(caller(time.perf_counter() + WINDOW_WARMUP_S) for _ in range(callers)))
    done = 0
    start = time.perf_counter()
    await asyncio.gather(*(caller(start + window_s) for _ in range(callers)))
    elapsed = time.perf_counter() - start  # includes the calls still in flight when the window closed
    return Rate(done, elapsed, done / elapsed)


def load_library_client(path: str) -> ModuleType:
    """Imports the client module serve_interface wrote: plain http.client over the agent's socket."""
    spec = importlib.util.spec_from_file_location(LIBRARY, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import the interface client at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def serve(seer: cr.Seer) -> ModuleType | None:
    """A sandbox serving the no-ops as MCP tools and, for the breakdown, as a library; returns its client."""
    seer.open.append(str((await seer.call("create_sandbox"))["sandbox_id"]))
    await seer.call("serve_interface", name=INTERFACE, code=INTERFACE_CODE)
    await seer.client.list_tools()  # refreshes the cached tool list (untimed; calls work without it too)
    result = await seer.call(f"{INTERFACE}_noop")
    if result != {"result": None}:
        raise RuntimeError(f"{INTERFACE}_noop returned {result!r}")
    try:
        served = await seer.call("serve_interface", name=LIBRARY, code=INTERFACE_CODE, expose_as="library")
        client = load_library_client(served["client_paths"][0])
        client.noop()  # also opens its kept-alive connection
        return client
    except Exception as exc:  # only the breakdown needs it
        print(f"the direct agent call is skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


async def measure(n: int, window_s: float, tmp: Path) -> tuple[dict[str, cr.Stats], dict[str, Rate]]:
    seer_env = {"SEER_STATE_DIR": str(tmp / "state"), "SEER_OUTPUTS_DIR": str(tmp / "outputs")}
    async with contextlib.AsyncExitStack() as stack:
        print("starting the bare server, a bare kernel and seer-mcp, serving the interface ...", file=sys.stderr)
        bare = await stack.enter_async_context(
            cr.stdio_client([str(cr.BARE_SERVER)], {}, tmp, tmp / "bare_server.log"))
        seer = cr.Seer(await stack.enter_async_context(
            cr.stdio_client(["-m", "seer_mcp", "serve"], seer_env, tmp, tmp / "seer_mcp.log")))
        km, kc = await cr.start_kernel(tmp)
        stack.push_async_callback(cr.stop_kernel, km, kc)
        stack.push_async_callback(seer.terminate_all)  # runs first, while the client is up
        library = await serve(seer)

        async def seer_noop() -> None:
            await seer.call(f"{INTERFACE}_noop")

        async def seer_noop_ts() -> None:
            await seer.call(f"{INTERFACE}_noop_ts")

        async def bare_noop() -> None:
            await bare.call_tool("noop", {})

        async def kernel_round_trip() -> None:
            await cr.kernel_cell(kc)

        probes = {"seer": cr.timed(seer_noop), "noop": cr.timed(bare_noop), "kernel": cr.timed(kernel_round_trip)}
        if library is not None:
            client = library

            async def agent_noop() -> None:
                client.noop()  # blocking, on purpose: nothing else is in flight meanwhile

            probes["agent"] = cr.timed(agent_noop)
        print(f"measuring latency ({cr.WARMUP} warm-ups + {n}) ...", file=sys.stderr)
        latency = await cr.sample(probes, n, cr.WARMUP)

        print(f"measuring throughput (5 windows of {window_s:g} s) ...", file=sys.stderr)
        rates = {
            "seer_sequential": await throughput(seer_noop, window_s, 1),
            "seer_concurrent": await throughput(seer_noop, window_s, CALLERS),
            "seer_ts_concurrent": await throughput(seer_noop_ts, window_s, CALLERS),
            "bare_sequential": await throughput(bare_noop, window_s, 1),
            "bare_concurrent": await throughput(bare_noop, window_s, CALLERS),
        }
    return latency, rates


def _rate_row(label: str, rate: Rate) -> str:
    return f"  {label:<44}{rate.per_s:>10.0f}{rate.calls:>10d}{rate.seconds:>10.2f}"


def report(n: int, window_s: float, latency: dict[str, cr.Stats], rates: dict[str, Rate]) -> dict[str, Any]:
    call, noop, kround = latency["seer"], latency["noop"], latency["kernel"]
    agent = latency.get("agent")
    floor = noop.p50_ms + kround.p50_ms
    ratio = call.p50_ms / floor
    sequential = rates["seer_sequential"].per_s
    latency_ok, rate_ok = ratio <= LATENCY_TARGET_RATIO, sequential >= THROUGHPUT_TARGET
    print(f"\n1. no-op interface call latency, N={n} after {cr.WARMUP} warm-ups")
    print(f"  {'':<40}{'p50 ms':>10}{'p90 ms':>10}{'mean ms':>10}")
    print(cr._row(f"seer-mcp {INTERFACE}_noop (stdio)", call))
    print(cr._row("floor (a): bare FastMCP no-op (stdio)", noop))
    print(cr._row(f"floor (b): bare kernel cell {cr.CELL!r}", kround))
    print(f"  {'floor p50 = (a) + (b)':<40}{floor:>10.2f}")
    if agent is not None:
        print(cr._row("breakdown: noop on the agent's socket", agent))
    print(f"  seer / floor = {ratio:.2f}x   target <= {LATENCY_TARGET_RATIO}x   {cr._verdict(latency_ok)}")
    print(f"\n2. sustained throughput, {window_s:g} s windows, {CALLERS} concurrent callers on one client")
    print(f"  {'':<44}{'calls/s':>10}{'calls':>10}{'s':>10}")
    print(_rate_row(f"seer-mcp {INTERFACE}_noop, sequential", rates["seer_sequential"]))
    print(_rate_row(f"seer-mcp {INTERFACE}_noop, {CALLERS} concurrent", rates["seer_concurrent"]))
    print(_rate_row(f"seer-mcp {INTERFACE}_noop_ts (thread-safe), {CALLERS} conc.", rates["seer_ts_concurrent"]))
    print(_rate_row("ceiling: bare FastMCP no-op, sequential", rates["bare_sequential"]))
    print(_rate_row(f"ceiling: bare FastMCP no-op, {CALLERS} concurrent", rates["bare_concurrent"]))
    print(f"  sequential = {sequential:.0f} calls/s   target >= {THROUGHPUT_TARGET:g}   {cr._verdict(rate_ok)}\n")
    versions = {pkg: importlib.metadata.version(pkg) for pkg in ("seer-mcp", "fastmcp", "mcp", "jupyter_client")}
    return {
        "latency": {
            "iterations": n, "warmup": cr.WARMUP, "seer_interface_noop": asdict(call),
            "floor_bare_mcp_noop": asdict(noop), "floor_bare_kernel_round_trip": asdict(kround),
            "breakdown_agent_socket_noop": asdict(agent) if agent is not None else None,
            "floor_p50_ms": floor, "ratio": ratio, "target_ratio": LATENCY_TARGET_RATIO, "pass": latency_ok,
        },
        "throughput": {
            "window_s": window_s, "concurrent_callers": CALLERS, **{k: asdict(v) for k, v in rates.items()},
            "target_sequential_per_s": THROUGHPUT_TARGET, "pass": rate_ok,
        },
        "environment": {"python": platform.python_version(), "platform": platform.platform(), **versions},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300, help="timed calls of each kind (latency)")
    parser.add_argument("--window", type=float, default=3.0, help="seconds of each throughput window")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args()
    if args.iterations < 1 or args.window <= 0:
        parser.error("iterations must be >= 1 and window > 0")
    with tempfile.TemporaryDirectory(prefix="seer-bench-", ignore_cleanup_errors=True) as tmp:
        log = Path(tmp) / "seer_mcp.log"
        try:
            latency, rates = asyncio.run(measure(args.iterations, args.window, Path(tmp)))
        except Exception:
            tail = log.read_text(errors="replace").splitlines()[-30:] if log.exists() else ["(no log)"]
            print("the benchmark failed; seer-mcp's log ends with:", *tail, sep="\n", file=sys.stderr)
            raise
    figures = report(args.iterations, args.window, latency, rates)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
