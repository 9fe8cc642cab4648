"""`SEER_WARM_SANDBOXES=N`: local sandboxes of the default spec started ahead, so create_sandbox is instant.

A pool sandbox is a sandbox like any other (same isolation, limits, idle reaping), started with
`SandboxSpec()` on the local backend; its agent starts a spare kernel at once, so the first
session does not wait either. Until it is handed out nobody sees it: `list_sandboxes`, the
sandbox-id inference and the web UI leave it out. `create_sandbox` with the default spec (any
`name`) takes the oldest ready one, sets its name, and restarts its lifetime clock (on the server
and in its agent); the pool then starts another. One reaped for idleness is replaced. At server
exit the pool's sandboxes are terminated; one an earlier server left behind is terminated when
the next one starts. A pool sandbox's outputs folder is named by its id alone (it had no name
when it started).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from seer_mcp.errors import SeerError
from seer_mcp.spec import SandboxSpec
from seer_mcp.workspace import prepare_workspace

log = logging.getLogger(__name__)

POOL_BACKEND = "local"  # a warm Modal sandbox would be billed while it waits, and its own timeout cannot move
_TEMPLATE = SandboxSpec(backend=POOL_BACKEND)
_RETRY_AFTER_S = 30.0  # a start that failed is tried again this much later, not in a loop


def serves(spec: SandboxSpec) -> bool:
    """Whether a pool sandbox is what `spec` asks for: the default spec, whatever its name."""
    return spec.model_dump(exclude={"name"}) == _TEMPLATE.model_dump(exclude={"name"})


class WarmPool:
    def __init__(self, registry: Any, size: int) -> None:
        # The registry that owns the pool (its launch, pooled_sandbox, adopt, terminate_sandbox): typed
        # loosely, since the registry imports this module.
        self.registry = registry
        self.size = size
        self.ready: list[str] = []  # sandbox ids, oldest first
        self._starting: set[asyncio.Task[None]] = set()
        self._closed = False

    def start(self) -> None:
        if self.size and self.registry.settings.default_backend != POOL_BACKEND:
            log.warning("SEER_WARM_SANDBOXES is set, but the default backend is %r: the pool keeps only local "
                        "sandboxes, so it stays empty", self.registry.settings.default_backend)
            return
        self._refill()

    def _refill(self) -> None:
        while not self._closed and len(self.ready) + len(self._starting) < self.size:
            task = asyncio.create_task(self._start_one())
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def _start_one(self) -> None:
        try:
            workspace = await asyncio.to_thread(prepare_workspace, _TEMPLATE.workspace, [Path("/")])
            started = await self.registry.launch(_TEMPLATE, workspace, pooled=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("starting a warm-pool sandbox failed; trying again in %g s", _RETRY_AFTER_S, exc_info=True)
            if not self._closed:
                asyncio.get_running_loop().call_later(_RETRY_AFTER_S, self._refill)
            return
        if self._closed:
            with contextlib.suppress(SeerError):
                await self.registry.terminate_sandbox(started["sandbox_id"], detail="the warm pool closed")
            return
        self.ready.append(started["sandbox_id"])
        log.info("warm-pool sandbox %s is ready (%d of %d)", started["sandbox_id"], len(self.ready), self.size)

    async def claim(self, spec: SandboxSpec) -> dict[str, Any] | None:
        """A ready pool sandbox made `spec`'s, or None (none ready, or `spec` is not the default)."""
        while self.ready and serves(spec):
            sandbox_id = self.ready.pop(0)
            self._refill()
            handed = await self._hand_out(sandbox_id, spec)
            if handed is not None:
                return handed
        return None

    async def _hand_out(self, sandbox_id: str, spec: SandboxSpec) -> dict[str, Any] | None:
        registry = self.registry
        live = registry.pooled_sandbox(sandbox_id)
        if live is None:
            return None
        now = time.time()
        expires_at = now + min(spec.timeout, registry.settings.max_lifetime)
        try:
            await live.client.set_lifetime(expires_at)
        except SeerError:
            log.warning("warm-pool sandbox %s did not answer; starting a fresh one instead", sandbox_id)
            with contextlib.suppress(SeerError):
                await registry.terminate_sandbox(sandbox_id, detail="a warm-pool sandbox that did not answer")
            return None
        return registry.adopt(live, spec, expires_at)

    def sandbox_gone(self, sandbox_id: str) -> None:
        if sandbox_id in self.ready:  # reaped while it waited (idle), or its agent died: start another
            self.ready.remove(sandbox_id)
            self._refill()

    async def sandbox_reattached(self, sandbox_id: str, client: Any) -> None:
        """Pool sandboxes are never re-attached (the registry terminates them): nothing to take back."""

    async def close(self) -> None:
        """Stops starting sandboxes and terminates the ready ones: they belong to no one."""
        self._closed = True
        for task in list(self._starting):
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        for sandbox_id in list(self.ready):
            with contextlib.suppress(SeerError):
                await self.registry.terminate_sandbox(sandbox_id, detail="the server exited (warm pool)")
        self.ready.clear()

