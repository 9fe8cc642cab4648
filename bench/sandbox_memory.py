"""What an idle sandbox with one notebook session holds in memory, against a bare kernel in the same run.

Usage: python bench/sandbox_memory.py [--json PATH]

A local sandbox (isolation as configured: bubblewrap where it works) is created through the
manager, a notebook session started and one trivial cell run; after a few seconds idle, every
process of the sandbox (bubblewrap's, the agent, the kernel, found by the sandbox's folder on
their command lines) is summed: RSS, and PSS, which shares a library's pages among the processes
mapping it. The baseline is a bare jupyter_client kernel (IPC) after one cell. Target: the sandbox
holds <= 80 MiB more than the bare kernel (RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cell_roundtrip import kernel_cell, start_kernel, stop_kernel  # noqa: E402

from seer_mcp.manager.facade import SandboxManager  # noqa: E402
from seer_mcp.settings import Settings  # noqa: E402
from seer_mcp.spec import SandboxSpec  # noqa: E402

TARGET_MIB = 80.0
_MIB = 1024 * 1024


def _memory(processes: list[psutil.Process]) -> dict[str, Any]:
    rss = pss = 0
    names = []
    for process in processes:
        try:
            info = process.memory_full_info()
            rss, pss = rss + info.rss, pss + getattr(info, "pss", info.rss)
            names.append(f"{process.name()}:{info.rss / _MIB:.0f}")
        except psutil.Error:
            pass
    return {"rss_mib": rss / _MIB, "pss_mib": pss / _MIB, "processes": names}


def _marked(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(marker in arg for arg in (process.info.get("cmdline") or [])):
            found.append(process)
    return found


async def measure(tmp: Path) -> dict[str, Any]:
    settings = Settings(state_dir=tmp / "state", outputs_dir=tmp / "outputs", terminate_on_exit=True,
                        _env_file=None)
    async with SandboxManager(settings) as manager:
        sandbox = await manager.create_sandbox(SandboxSpec())
        session = await manager.start_session(sandbox["sandbox_id"], "memory")
        await manager.execute(session["session_id"], "x = 1", 60)
        await asyncio.sleep(3)  # the spare kernel the agent starts after a session takes its first one
        sandbox_memory = _memory(_marked(sandbox["sandbox_id"]))
        isolation = sandbox.get("isolation")
        await manager.terminate_sandbox(sandbox["sandbox_id"])
    km, kc = await start_kernel(tmp)
    try:
        await kernel_cell(kc)
        await asyncio.sleep(1)
        bare = _memory([psutil.Process(km.provisioner.process.pid)])  # type: ignore[union-attr]
    finally:
        await stop_kernel(km, kc)
    return {"sandbox": sandbox_memory, "bare_kernel": bare, "isolation": isolation}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seer-memory-", ignore_cleanup_errors=True) as tmp:
        figures = asyncio.run(measure(Path(tmp)))
    sandbox, bare = figures["sandbox"], figures["bare_kernel"]
    extra = sandbox["rss_mib"] - bare["rss_mib"]
    print(f"\nan idle sandbox with one session (isolation: {figures['isolation']})")
    print(f"  sandbox: {sandbox['rss_mib']:.0f} MiB RSS, {sandbox['pss_mib']:.0f} MiB PSS in "
          f"{len(sandbox['processes'])} processes ({', '.join(sandbox['processes'])})")
    print(f"  bare kernel: {bare['rss_mib']:.0f} MiB RSS, {bare['pss_mib']:.0f} MiB PSS")
    print(f"  beyond a bare kernel: {extra:.0f} MiB RSS, {sandbox['pss_mib'] - bare['pss_mib']:.0f} MiB PSS   "
          f"target <= {TARGET_MIB:g} MiB   " + ("PASS" if extra <= TARGET_MIB else "FAIL  <<<") + "\n")
    if args.json:
        args.json.write_text(json.dumps({**figures, "extra_rss_mib": extra, "target_mib": TARGET_MIB}, indent=2))


if __name__ == "__main__":
    main()
