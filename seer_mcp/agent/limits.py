"""A sandbox's own idle timeout and lifetime, kept by its agent.

The server enforces them too, but a sandbox must end on time with no server
running: clients that start one server per call, a server killed with -9, a
laptop closed overnight. So the agent stops itself, and with it every kernel,
when it has been idle too long or reaches its lifetime. Idle means no request
in flight and no cell running; requests that only look (health checks, a
watcher's notebook download) do not count as activity.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

log = logging.getLogger(__name__)


class SelfLimits:
    """Wakes only when something changes or a deadline comes: no polling."""

    def __init__(self, idle_timeout: float | None, expires_at: float | None, cells_running: Callable[[], bool],
                 stop: Callable[[str], None]) -> None:
        self.idle_timeout = idle_timeout
        self.expires_at = expires_at
        self._cells_running = cells_running
        self._stop = stop
        self.last_active = time.time()
        self._in_flight = 0
        self._changed = asyncio.Event()
        # Whether the wait under way left the idle deadline out (the sandbox was busy): only then must the
        # end of activity wake it. Otherwise activity only moves the deadline later, which the wait finds
        # out when it wakes, so a request costs no task switch.
        self._idle_left_out = False

    def begin(self) -> None:
        """A request that counts as activity started."""
        self._in_flight += 1
        self.last_active = time.time()

    def end(self) -> None:
        self._in_flight -= 1
        self.touch()

    def touch(self) -> None:
        """Activity now (a request ended, a cell finished): the idle clock starts again."""
        self.last_active = time.time()
        if self._idle_left_out:
            self._changed.set()

    def set_lifetime(self, expires_at: float) -> None:
        """The sandbox now ends at `expires_at` (a warm-pool sandbox handed out: its lifetime starts again)."""
        self.expires_at = expires_at
        self.last_active = time.time()
        self._changed.set()

    def _due(self) -> tuple[float | None, str]:
        due, reason = self.expires_at, "reached its lifetime"
        busy = bool(self._in_flight) or self._cells_running()
        self._idle_left_out = busy
        if self.idle_timeout and not busy:
            idle_due = self.last_active + self.idle_timeout
            if due is None or idle_due < due:
                due, reason = idle_due, f"idle for {self.idle_timeout:g} s"
        return due, reason

    async def run(self) -> None:
        """Runs for the agent's life; calls `stop` once a limit is reached."""
        while True:
            due, reason = self._due()
            now = time.time()
            if due is not None and due <= now:
                log.warning("the sandbox stops itself: %s", reason)
                self._stop(reason)
                return
            self._changed.clear()
            try:  # asyncio.timeout, not wait_for, which on Python 3.11 can swallow a cancel as a timeout
                async with asyncio.timeout(None if due is None else due - now):
                    await self._changed.wait()
            except TimeoutError:
                pass
