"""The memory guard's two ways of keeping a limit: a cgroup where one can be made, else the watchdog."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import pytest

import seer_mcp.agent.memory_guard as memory_guard
from seer_mcp.agent.memory_guard import MemoryGuard, descendants

GROW = "import time\nchunks = []\nwhile True:\n    chunks.append(bytearray(16 * 2**20)); time.sleep(0.02)"


async def _run_under(guard_limit: int, monkeypatch: pytest.MonkeyPatch,
                     cgroups: bool) -> tuple[MemoryGuard, int, int]:
    """Runs a process that grows until killed; its guard, its exit code, and the kills the guard counted."""
    if not cgroups:
        monkeypatch.setattr(memory_guard, "_cgroup_dirs", lambda: [])
    proc = subprocess.Popen([sys.executable, "-c", GROW])
    guard = MemoryGuard(guard_limit, lambda: descendants(proc.pid), f"seer-test-{proc.pid}")
    guard.adopt()
    guard.start()
    try:
        code = await asyncio.wait_for(asyncio.to_thread(proc.wait), 30)
        kills = guard.oom_kills()
    finally:
        proc.kill()
        guard.close()
    return guard, code, kills


async def test_the_watchdog_kills_the_largest_process_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    guard, code, kills = await _run_under(200 * 2**20, monkeypatch, cgroups=False)
    assert guard.how == "watchdog"
    assert code == -signal.SIGKILL and kills == 1


async def test_a_cgroup_keeps_the_limit_where_one_can_be_made(monkeypatch: pytest.MonkeyPatch) -> None:
    guard, code, kills = await _run_under(200 * 2**20, monkeypatch, cgroups=True)
    if guard.cgroup is None:
        pytest.skip("this machine lets no memory cgroup be made here; the watchdog test covers the limit")
    assert code == -signal.SIGKILL and kills >= 1


async def test_a_process_within_the_limit_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_guard, "_cgroup_dirs", lambda: [])
    proc = subprocess.Popen([sys.executable, "-c", "x = bytearray(20 * 2**20); import time; time.sleep(1.5)"])
    guard = MemoryGuard(300 * 2**20, lambda: descendants(proc.pid), "unused")
    guard.start()
    try:
        assert await asyncio.to_thread(proc.wait) == 0 and guard.oom_kills() == 0
    finally:
        guard.close()
