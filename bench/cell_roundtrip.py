"""How much seer-mcp adds to a notebook cell, measured against a floor from the same run.

Usage: python bench/cell_roundtrip.py [--iterations N] [--create-iterations M] [--json PATH]

1. Trivial cell round trip. `execute_code(code="x = 1")` is called N times over stdio through two
   real MCP clients, the official SDK's (`mcp.ClientSession`) and fastmcp's `Client`, each on a
   `python -m seer_mcp serve` of its own, after create_sandbox, start_session and warm-up cells.
   Its floor is what the same call cannot avoid costing, the sum of two p50s:
     (a) one MCP tool call: a no-op tool on a bare FastMCP server (bench/bare_server.py), called
         over stdio the same way by each client; the fastest client's is the floor;
     (b) one Jupyter cell: `x = 1` on a bare jupyter_client kernel (IPC transport, like
         seer-mcp's kernels), with execute_interactive: until the reply and idle status arrive.
   Everything seer-mcp does on top (its agent hop, notebook bookkeeping, result shaping) shows up
   as seer/floor above 1, judged with the fastest client on both sides. Target: <= 1.3x.

2. Sandbox create -> first cell result. Through the fastmcp client, the time from calling
   create_sandbox to the result of the first execute_code (create_sandbox + start_session +
   execute_code), M times; each sandbox is terminated afterwards, untimed. Its baseline: starting
   a bare jupyter_client kernel and running one cell (p50 over M). Target: <= 2x that baseline.
   Then the same with a warm pool (a server with SEER_WARM_SANDBOXES=1; before each timed
   creation, untimed, the pool has a sandbox ready). Target: p50 <= 100 ms.

Figures and their baselines are sampled interleaved (one of each per iteration), so load from
elsewhere on the machine falls on both alike. The seer-mcp server runs with throwaway state
(SEER_STATE_DIR, SEER_OUTPUTS_DIR and its working directory in a temporary directory). The
script exits 0 when a target is missed: it measures, it does not test; FAIL is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client as sdk_stdio_client

CELL = "x = 1"
WARMUP = 10
ROUNDTRIP_TARGET_RATIO = 1.3
CREATE_TARGET_RATIO = 2.0
WARM_CREATE_TARGET_MS = 100.0
CALL_TIMEOUT_S = 120.0
BARE_SERVER = Path(__file__).resolve().parent / "bare_server.py"
_KERNEL_IDS = itertools.count()

Probe = Callable[[], Awaitable[float]]  # runs once, returns the seconds it timed


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


def timed(call: Callable[[], Awaitable[object]]) -> Probe:
    async def probe() -> float:
        start = time.perf_counter()
        await call()
        return time.perf_counter() - start

    return probe


async def sample(probes: dict[str, Probe], n: int, warmup: int = 0) -> dict[str, Stats]:
    """Runs the probes in turn, `warmup` untimed rounds and then `n` timed ones."""
    for _ in range(warmup):
        for probe in probes.values():
            await probe()
    samples: dict[str, list[float]] = {name: [] for name in probes}
    for _ in range(n):
        for name, probe in probes.items():
            samples[name].append(await probe())
    return {name: Stats.of(values) for name, values in samples.items()}


def stdio_client(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Client[StdioTransport]:
    # keep_alive=False: the subprocess ends when the client's context exits.
    transport = StdioTransport(sys.executable, args, env={"PYTHONUTF8": "1", **env}, cwd=str(cwd),
                               keep_alive=False, log_file=log)
    return Client(transport, timeout=CALL_TIMEOUT_S, init_timeout=60)


class SdkClient:
    """The official MCP SDK's client over stdio, with fastmcp.Client's `call_tool` shape (what Seer uses)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.params = StdioServerParameters(command=sys.executable, args=args, env={"PYTHONUTF8": "1", **env},
                                            cwd=str(cwd))
        self.log = log
        self.session: ClientSession | None = None

    async def __aenter__(self) -> SdkClient:
        self._stack = contextlib.AsyncExitStack()
        errlog = self._stack.enter_context(open(self.log, "w"))
        read, write = await self._stack.enter_async_context(sdk_stdio_client(self.params, errlog=errlog))
        self.session = await self._stack.enter_async_context(ClientSession(read, write))
        await self.session.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        assert self.session is not None
        result = await self.session.call_tool(name, arguments)
        if result.is_error:
            raise RuntimeError(f"{name} failed: {result.content}")
        return _Result(result.structured_content, result.meta)


@dataclass
class _Result:
    structured_content: Any
    meta: Any


# ----- bare jupyter_client kernel -------------------------------------------------------


async def start_kernel(tmp: Path) -> tuple[AsyncKernelManager, AsyncKernelClient]:
    """A bare kernel on IPC transport, as seer-mcp's agent starts its kernels."""
    ipc = tmp / f"kernel-{next(_KERNEL_IDS)}"
    km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(ipc))
    km.connection_file = f"{ipc}.json"
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    return km, kc


async def stop_kernel(km: AsyncKernelManager, kc: AsyncKernelClient) -> None:
    kc.stop_channels()
    await km.shutdown_kernel(now=True)


async def kernel_cell(kc: AsyncKernelClient) -> None:
    reply = await kc.execute_interactive(CELL, timeout=30)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"bare kernel cell failed: {reply['content']}")


async def kernel_start_and_cell(tmp: Path) -> float:
    start = time.perf_counter()
    km, kc = await start_kernel(tmp)
    try:
        await kernel_cell(kc)
        return time.perf_counter() - start
    finally:
        await stop_kernel(km, kc)


# ----- seer-mcp ---------------------------------------------------------------------------


class Seer:
    """seer-mcp's tools, called through one stdio client; remembers sandboxes to terminate."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.open: list[str] = []

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """A record's structured content, or an output's fields for programs (`_meta["seer"]`)."""
        result = await self.client.call_tool(tool, arguments)  # raises ToolError on is_error
        fields = result.structured_content if result.structured_content is not None else (result.meta or {}).get("seer")
        if not isinstance(fields, dict):
            raise RuntimeError(f"{tool}: expected structured content or seer fields, got {result!r}")
        return fields

    async def cell(self, session_id: str) -> None:
        result = await self.call("execute_code", code=CELL, session_id=session_id)
        if result.get("status") != "ok":
            raise RuntimeError(f"execute_code failed: {result}")

    async def open_session(self) -> str:
        """create_sandbox + start_session; returns the session id."""
        sandbox_id = str((await self.call("create_sandbox"))["sandbox_id"])
        self.open.append(sandbox_id)
        return str((await self.call("start_session", sandbox_id=sandbox_id))["session_id"])

    async def terminate_all(self) -> None:
        while self.open:
            await self.call("terminate_sandbox", sandbox_id=self.open.pop())

    async def create_to_first_cell(self) -> float:
        start = time.perf_counter()
        await self.cell(await self.open_session())
        elapsed = time.perf_counter() - start
        await self.terminate_all()
        return elapsed

    def warm(self, state_dir: Path) -> Probe:
        """create_to_first_cell once the warm pool (in `state_dir`'s database) has a sandbox ready."""
        from seer_mcp.manager.state import RUNNING, StateStore

        async def probe() -> float:
            deadline = time.monotonic() + 120
            while True:  # untimed: the pool refills after each taking
                store = StateStore(state_dir / "state.sqlite")
                try:
                    ready = [r for r in store.sandboxes(status=RUNNING) if r.handle.get("warm_pool")]
                finally:
                    store.close()
                if ready:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the warm pool had no sandbox ready after 120 s")
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # the refill's start-up is over; only the taking is timed
            return await self.create_to_first_cell()

        return probe


# ----- run and report -----------------------------------------------------------------------


async def measure(n: int, m: int, tmp: Path) -> tuple[dict[str, Stats], dict[str, Stats]]:
    def seer_env(name: str, **extra: str) -> dict[str, str]:
        return {"SEER_STATE_DIR": str(tmp / name / "state"), "SEER_OUTPUTS_DIR": str(tmp / name / "outputs"), **extra}

    async with contextlib.AsyncExitStack() as stack:
        print("starting the bare servers, a bare kernel and three seer-mcp servers ...", file=sys.stderr)
        bare = await stack.enter_async_context(stdio_client([str(BARE_SERVER)], {}, tmp, tmp / "bare_server.log"))
        bare_sdk = await stack.enter_async_context(SdkClient([str(BARE_SERVER)], {}, tmp, tmp / "bare_sdk.log"))
        bare_loop = await stack.enter_async_context(
            SdkClient([str(BARE_SERVER), "--loop"], {}, tmp, tmp / "bare_loop.log"))
        seer = Seer(await stack.enter_async_context(
            stdio_client(["-m", "seer_mcp", "serve"], seer_env("fastmcp"), tmp, tmp / "seer_mcp.log")))
        seer_sdk = Seer(await stack.enter_async_context(
            SdkClient(["-m", "seer_mcp", "serve"], seer_env("sdk"), tmp, tmp / "seer_mcp_sdk.log")))
        km, kc = await start_kernel(tmp)
        stack.push_async_callback(stop_kernel, km, kc)
        stack.push_async_callback(seer.terminate_all)  # runs first, while the client is up
        stack.push_async_callback(seer_sdk.terminate_all)
        session_id = await seer.open_session()
        sdk_session_id = await seer_sdk.open_session()

        print(f"measuring round trips ({WARMUP} warm-ups + {n}) ...", file=sys.stderr)
        roundtrip = await sample({
            "seer": timed(lambda: seer.cell(session_id)),
            "seer_sdk": timed(lambda: seer_sdk.cell(sdk_session_id)),
            "noop": timed(lambda: bare.call_tool("noop", {})),
            "noop_sdk": timed(lambda: bare_sdk.call_tool("noop", {})),
            "noop_loop_sdk": timed(lambda: bare_loop.call_tool("noop", {})),
            "kernel": timed(lambda: kernel_cell(kc)),
        }, n, WARMUP)
        await seer.terminate_all()
        await seer_sdk.terminate_all()

        print(f"measuring create -> first cell ({m}), then with a warm pool ({m}) ...", file=sys.stderr)
        create = await sample({
            "seer": seer.create_to_first_cell,
            "kernel": lambda: kernel_start_and_cell(tmp),
        }, m)
        pooled = Seer(await stack.enter_async_context(stdio_client(
            ["-m", "seer_mcp", "serve"], seer_env("pool", SEER_WARM_SANDBOXES="1"), tmp, tmp / "seer_pool.log")))
        stack.push_async_callback(pooled.terminate_all)
        create |= {"warm": (await sample({"warm": pooled.warm(tmp / "pool" / "state")}, m))["warm"]}
    return roundtrip, create


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL  <<<"


def _row(label: str, s: Stats) -> str:
    return f"  {label:<44}{s.p50_ms:>10.2f}{s.p90_ms:>10.2f}{s.mean_ms:>10.2f}"


def report(n: int, m: int, roundtrip: dict[str, Stats], create: dict[str, Stats]) -> dict[str, Any]:
    kcell = roundtrip["kernel"]
    # The fastest client on both sides: its no-op is the floor's MCP hop, its seer cell is judged.
    client = "sdk" if roundtrip["noop_sdk"].p50_ms <= roundtrip["noop"].p50_ms else "fastmcp"
    noop = roundtrip["noop_sdk" if client == "sdk" else "noop"]
    cell = roundtrip["seer_sdk" if client == "sdk" else "seer"]
    floor = noop.p50_ms + kcell.p50_ms
    ratio = cell.p50_ms / floor
    # Informational: the same floor with its no-op on the transport seer-mcp serves pipes with.
    same_transport_floor = roundtrip["noop_loop_sdk"].p50_ms + kcell.p50_ms
    same_transport_ratio = roundtrip["seer_sdk"].p50_ms / same_transport_floor
    same_transport_own = roundtrip["seer_sdk"].p50_ms - same_transport_floor
    create_ratio = create["seer"].p50_ms / create["kernel"].p50_ms
    warm = create["warm"]
    rt_ok, create_ok = ratio <= ROUNDTRIP_TARGET_RATIO, create_ratio <= CREATE_TARGET_RATIO
    warm_ok = warm.p50_ms <= WARM_CREATE_TARGET_MS
    header = f"  {'':<44}{'p50 ms':>10}{'p90 ms':>10}{'mean ms':>10}"
    print(f"\n1. trivial cell round trip ({CELL!r}), N={n} after {WARMUP} warm-ups\n{header}")
    print(_row("seer-mcp execute_code, official SDK client", roundtrip["seer_sdk"]))
    print(_row("seer-mcp execute_code, fastmcp client", roundtrip["seer"]))
    print(_row("bare FastMCP no-op, official SDK client", roundtrip["noop_sdk"]))
    print(_row("bare FastMCP no-op, fastmcp client", roundtrip["noop"]))
    print(_row("bare FastMCP no-op on seer-mcp's stdio, SDK", roundtrip["noop_loop_sdk"]))
    print(_row("bare jupyter_client cell (IPC)", kcell))
    print(f"  {'floor p50 = fastest no-op (' + client + ') + cell':<44}{floor:>10.2f}")
    print(f"  seer-mcp's own per cell: {cell.p50_ms - floor:.2f} ms")
    print(f"  seer ({client}) / floor = {ratio:.2f}x   target <= {ROUNDTRIP_TARGET_RATIO}x   {_verdict(rt_ok)}")
    print(f"  beside a no-op on seer-mcp's own stdio transport (SDK client): seer (sdk) / that floor = "
          f"{same_transport_ratio:.2f}x, seer-mcp's own past the transport {same_transport_own:.2f} ms")
    print(f"\n2. sandbox create -> first cell result, M={m}\n{header}")
    print(_row("seer-mcp create+start_session+execute", create["seer"]))
    print(_row("baseline: bare kernel start + cell", create["kernel"]))
    print(_row("seer-mcp, a warm pool sandbox ready", warm))
    print(f"  seer / baseline = {create_ratio:.2f}x   target <= {CREATE_TARGET_RATIO:g}x   {_verdict(create_ok)}")
    print(f"  warm pool p50 = {warm.p50_ms:.1f} ms   target <= {WARM_CREATE_TARGET_MS:g} ms   {_verdict(warm_ok)}\n")
    return {
        "cell_roundtrip": {
            "iterations": n, "warmup": WARMUP, "fastest_client": client,
            **{name: asdict(stats) for name, stats in roundtrip.items()},
            "floor_p50_ms": floor, "ratio": ratio, "target_ratio": ROUNDTRIP_TARGET_RATIO, "pass": rt_ok,
            "same_transport_floor_p50_ms": same_transport_floor, "same_transport_ratio": same_transport_ratio,
        },
        "create_to_first_cell": {
            "iterations": m, "seer": asdict(create["seer"]),
            "baseline_bare_kernel_start_and_cell": asdict(create["kernel"]), "ratio": create_ratio,
            "target_ratio": CREATE_TARGET_RATIO, "pass": create_ok,
            "warm_pool": asdict(warm), "warm_target_p50_ms": WARM_CREATE_TARGET_MS, "warm_pass": warm_ok,
        },
        "environment": {
            "python": platform.python_version(), "platform": platform.platform(),
            **{pkg: importlib.metadata.version(pkg)
               for pkg in ("seer-mcp", "fastmcp", "mcp", "jupyter_client", "ipykernel")},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="timed round trips of each kind")
    parser.add_argument("--create-iterations", type=int, default=5, help="timed sandbox creations")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args()
    if args.iterations < 1 or args.create_iterations < 1:
        parser.error("iterations must be >= 1")
    with tempfile.TemporaryDirectory(prefix="seer-bench-", ignore_cleanup_errors=True) as tmp:
        try:
            roundtrip, create = asyncio.run(measure(args.iterations, args.create_iterations, Path(tmp)))
        except Exception:
            log = Path(tmp) / "seer_mcp.log"
            tail = log.read_text(errors="replace").splitlines()[-30:] if log.exists() else []
            print("the benchmark failed; seer-mcp's log ends with:\n" + "\n".join(tail), file=sys.stderr)
            raise
    figures = report(args.iterations, args.create_iterations, roundtrip, create)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
