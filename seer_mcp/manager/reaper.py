"""The server's side of a sandbox's limits: terminate it at its idle timeout or its lifetime.

The sandbox's agent keeps the same limits itself (so a sandbox ends on time with
no server running); the reaper is what tells this server's registry, and what
stops a backend's sandbox whose agent no longer answers. It sleeps until the
next deadline or until the registry says a deadline moved: no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from seer_mcp.errors import SeerError
from seer_mcp.manager.registry import LiveSandbox, SandboxRegistry

log = logging.getLogger(__name__)

_MAX_SLEEP_S = 3600.0


class SandboxReaper:
    def __init__(self, registry: SandboxRegistry) -> None:
        self._registry = registry
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._reap_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @staticmethod
    def _deadline(live: LiveSandbox) -> tuple[float, str]:
        record = live.record
        idle = record.idle_deadline() if live.in_flight == 0 else None
        if idle is not None and idle < record.expires_at:
            return idle, f"idle for {record.idle_timeout:g}s"
        return record.expires_at, "reached its lifetime limit"

    async def _catch_up_on_activity(self, live: LiveSandbox) -> None:
        """Before an idle sandbox is terminated: what the server cannot see, a cell that runs on after its
        caller stopped waiting (activity now) or one that ended since (activity then), counts too."""
        try:
            health = await live.client.health(timeout=3.0)
        except SeerError:
            return
        if health.cells_running:
            self._registry.touch(live)
        elif health.last_active and health.last_active > live.record.last_active:
            self._registry.touch(live, health.last_active)

    async def _reap_forever(self) -> None:
        changed = self._registry.deadlines_changed
        while True:
            now = time.time()
            next_due = now + _MAX_SLEEP_S
            for live in self._registry.live():
                due, reason = self._deadline(live)
                if due <= now and due < live.record.expires_at:
                    await self._catch_up_on_activity(live)
                    due = live.record.idle_deadline() or due
                if due <= now:
                    log.info("terminating sandbox %s: %s", live.record.sandbox_id, reason)
                    with contextlib.suppress(SeerError):
                        await self._registry.terminate_sandbox(live.record.sandbox_id, detail=reason)
                else:
                    next_due = min(next_due, due)
            changed.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 a cancel that lands as wait_for times out turns
            # into a TimeoutError, so stop() would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.05, next_due - time.time())):
                    await changed.wait()
