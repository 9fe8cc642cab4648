"""An in-process event bus: what happens to sandboxes, sessions and cells, for whoever watches.

The manager publishes plain dicts (`{"type": "cell_finished", "session_id": ..., ...}`);
the web UI streams them to open pages. Publishing never blocks and never fails: a
subscriber that falls behind loses its oldest events rather than slowing the manager.
The bus also keeps the cells running right now, so a page opened mid-cell can show them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

if TYPE_CHECKING:
    from seer_mcp.wire import CellProgress, CellResult

# Events a subscriber may have queued before the oldest are dropped.
_QUEUE_BOUND = 1000
_CLOSED: dict[str, Any] = {"type": "_closed"}  # queued to every subscriber when the bus closes


class EventBus:
    """Fan-out of manager events to any number of async subscribers."""

    def __init__(self, queue_bound: int = _QUEUE_BOUND) -> None:
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self._bound = queue_bound
        self._closed = False
        # session_id -> the running cell: code, cell_index, started, elapsed, last_line
        self.running: dict[str, dict[str, Any]] = {}

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    def publish(self, event: dict[str, Any]) -> None:
        event = {**event, "time": time.time()}
        self._track(event)
        for queue in self._queues:
            if queue.full():  # a slow subscriber: it loses its oldest event, not the newest
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    def _track(self, event: dict[str, Any]) -> None:
        kind, session_id = event.get("type"), event.get("session_id")
        if session_id is None:
            return
        if kind == "cell_started":
            self.running[session_id] = {"code": event.get("code", ""), "cell_index": event.get("cell_index"),
                                        "started": event["time"], "elapsed": 0.0, "last_line": ""}
        elif kind == "cell_progress" and session_id in self.running:
            self.running[session_id].update(elapsed=event.get("elapsed", 0.0), last_line=event.get("last_line", ""))
        elif kind in ("cell_finished", "session_ended"):
            self.running.pop(session_id, None)

    async def subscribe(self, keepalive: float | None = None,
                        snapshot: Callable[[], dict[str, Any]] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Yields every event published from now on, until the bus closes or the caller stops iterating.

        With `keepalive`, a `{"type": "keepalive"}` event comes after that many quiet
        seconds, so a stream can write something and notice a reader that went away.
        With `snapshot`, its event comes first, taken once the subscription is in place: an
        event published while a reader starts is in the snapshot or after it, never lost
        between the two.
        """
        if self._closed:
            return
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._bound)
        self._queues.add(queue)
        try:
            if snapshot is not None:
                yield snapshot()
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), keepalive)
                except TimeoutError:
                    yield {"type": "keepalive"}
                    continue
                if event is _CLOSED:
                    return
                yield event
        finally:
            self._queues.discard(queue)  # a closed browser tab leaves nothing behind

    def close(self) -> None:
        """Ends every subscription, e.g. when the server shuts down, so open streams finish."""
        self._closed = True
        for queue in self._queues:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(_CLOSED)


class CellWatch:
    """Publishes one cell's life on a bus: cell_started now, cell_progress as it runs, cell_finished at the end.

    Used as a context manager around the call that runs the cell; `progress` is the
    handler to give that call (it forwards to the caller's own handler too), and
    the code inside sets `result` once the cell is done. Leaving without a result
    (the sandbox vanished, the kernel was dead) still reports the cell as finished.
    """

    def __init__(self, bus: EventBus, session_id: str, sandbox_id: str, code: str | None, cell_index: int | None,
                 forward: Callable[[CellProgress], Awaitable[None]] | None) -> None:
        self._bus, self._forward = bus, forward
        self._ids = {"session_id": session_id, "sandbox_id": sandbox_id}
        self.result: CellResult | None = None
        if code is not None:  # None: waiting again for a cell that was already announced
            bus.publish({"type": "cell_started", **self._ids, "code": code, "cell_index": cell_index})

    async def progress(self, progress: CellProgress) -> None:
        self._bus.publish({"type": "cell_progress", **self._ids, "elapsed": round(progress.elapsed, 1),
                           "last_line": progress.last_line})
        if self._forward is not None:
            await self._forward(progress)

    def __enter__(self) -> "CellWatch":
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self.result is not None:
            fields = {"cell_index": self.result.cell_index, "status": self.result.status}
        else:
            fields = {"cell_index": None, "status": "failed", "message": f"{type(exc).__name__}: {exc}" if exc else ""}
        self._bus.publish({"type": "cell_finished", **self._ids, **fields})
