"""A sandbox's memory limit: a memory cgroup where this machine lets us make one, else a watchdog.

The cgroup (v2 `memory.max`, or v1 `memory.limit_in_bytes`) holds every process
of the sandbox but not the agent, so the kernel's OOM killer takes the
sandbox's largest process and the agent lives to report it. Where no cgroup
can be made (no delegation, not root), the watchdog sums the sandbox's
resident memory every 0.2 s and kills its largest process when the sum is
over the limit: a fast allocation can overshoot it for that long.
Either way a kill is counted, so a dead kernel says why it died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Callable

import psutil

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.2


def _cgroup_dirs() -> list[Path]:
    """Where a child cgroup of ours with a memory controller could go: v2 first, then v1."""
    found = []
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    own: dict[str, str] = {}  # controller ("" for v2) -> our cgroup's path
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    for line in mounts:
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        point, options = fields[4], fields[-1]
        if fstype == "cgroup2" and "" in own:
            found.insert(0, Path(point + own[""]))
        elif fstype == "cgroup" and "memory" in options.split(",") and "memory" in own:
            found.append(Path(point + own["memory"]))
    return found


class MemoryGuard:
    def __init__(self, limit_bytes: int, processes: Callable[[], list[psutil.Process]], name: str) -> None:
        self.limit_bytes = limit_bytes
        self._processes = processes
        self.cgroup = self._make_cgroup(name)
        self.kills = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def how(self) -> str:
        return f"cgroup {self.cgroup}" if self.cgroup else "watchdog"

    def _make_cgroup(self, name: str) -> Path | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            for parent in _cgroup_dirs():
                group = parent / name
                try:
                    group.mkdir(exist_ok=True)
                    if (group / "memory.max").exists():
                        (group / "memory.max").write_text(str(self.limit_bytes))
                        with contextlib.suppress(OSError):
                            (group / "memory.swap.max").write_text("0")
                    else:
                        (group / "memory.limit_in_bytes").write_text(str(self.limit_bytes))
                        with contextlib.suppress(OSError):
                            (group / "memory.memsw.limit_in_bytes").write_text(str(self.limit_bytes))
                    return group
                except OSError:
                    with contextlib.suppress(OSError):
                        group.rmdir()
        return None

    def adopt(self) -> None:
        """Moves the sandbox's processes (the launcher, before it starts anything) into the cgroup."""
        if self.cgroup is None:
            return
        for proc in self._processes():
            with contextlib.suppress(OSError):
                (self.cgroup / "cgroup.procs").write_text(str(proc.pid))

    def start(self) -> None:
        if self.cgroup is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    def oom_kills(self) -> int:
        """Kills for memory so far: the cgroup's OOM kills, or the watchdog's."""
        if self.cgroup is None:
            return self.kills
        for name in ("memory.events", "memory.oom_control"):
            with contextlib.suppress(OSError):
                for line in (self.cgroup / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        return 0

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            sizes = []
            for proc in self._processes():
                with contextlib.suppress(psutil.Error):
                    sizes.append((proc.memory_info().rss, proc))
            if sum(size for size, _ in sizes) <= self.limit_bytes or not sizes:
                continue
            size, biggest = max(sizes, key=lambda item: item[0])
            log.warning("sandbox over its memory limit (%d MiB): killing pid %d (%d MiB)",
                        self.limit_bytes >> 20, biggest.pid, size >> 20)
            with contextlib.suppress(psutil.Error):
                biggest.send_signal(signal.SIGKILL)
            self.kills += 1

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.cgroup is not None:
            with contextlib.suppress(OSError):
                self.cgroup.rmdir()


def descendants(pid: int, skip_self: bool = False) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        found = root.children(recursive=True)
        return found if skip_self else [root, *found]
    except psutil.Error:
        return []


def guard_name(pid: int | None = None) -> str:
    return f"seer-sandbox-{pid or os.getpid()}"


def remove_guard_cgroup(agent_pid: int) -> None:
    """Removes the (empty) memory cgroup of an agent that could not remove it itself."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for parent in _cgroup_dirs():
            with contextlib.suppress(OSError):
                (parent / guard_name(agent_pid)).rmdir()
