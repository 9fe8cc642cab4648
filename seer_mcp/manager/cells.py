"""A notebook session's cells: run, edit, wait, interrupt, restart, read, and the server's copy of the
notebook, which follows every change that finished (unless the agent writes that copy itself)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from seer_mcp.fileio import write_atomically
from seer_mcp.manager.events import CellWatch, EventBus
from seer_mcp.manager.registry import LiveSandbox, SandboxRegistry
from seer_mcp.manager.state import SessionRecord
from seer_mcp.progress import CellProgressHandler
from seer_mcp.settings import Settings
from seer_mcp.wire import CellResult, NotebookPage


class Cells:
    def __init__(self, registry: SandboxRegistry, events: EventBus, settings: Settings) -> None:
        self._registry = registry
        self._events = events
        self._settings = settings

    async def execute(self, session_id: str | None, code: str, timeout: float | None = None,
                      on_progress: CellProgressHandler | None = None,
                      wait: float | None = None) -> tuple[CellResult, SessionRecord]:
        """Runs a cell. With a `wait`, a cell still running after it comes back as "running" and goes on."""
        record, live = self._registry.session(session_id)
        async with self._registry.using(live) as client:
            with CellWatch(self._events, record.session_id, record.sandbox_id, code, None, on_progress) as watch:
                result = await client.execute(record.session_id, code, timeout or self._settings.cell_timeout,
                                              watch.progress, wait)
                await self._mirror(live, record, result)
                watch.result = result
        return result, record

    async def edit_cell(self, session_id: str | None, cell_index: int, code: str, timeout: float | None = None,
                        on_progress: CellProgressHandler | None = None,
                        wait: float | None = None) -> tuple[CellResult, SessionRecord]:
        record, live = self._registry.session(session_id)
        async with self._registry.using(live) as client:
            with CellWatch(self._events, record.session_id, record.sandbox_id, code, cell_index,
                           on_progress) as watch:
                result = await client.edit_cell(record.session_id, cell_index, code,
                                                timeout or self._settings.cell_timeout, watch.progress, wait)
                await self._mirror(live, record, result)
                watch.result = result
        return result, record

    async def wait_cell(self, session_id: str | None, wait: float,
                        on_progress: CellProgressHandler | None = None) -> tuple[CellResult, SessionRecord]:
        """Waits up to `wait` for the session's cell that came back "running"; only output not shown yet."""
        record, live = self._registry.session(session_id)
        async with self._registry.using(live) as client:
            with CellWatch(self._events, record.session_id, record.sandbox_id, None, None, on_progress) as watch:
                result = await client.wait_cell(record.session_id, wait, watch.progress)
                await self._mirror(live, record, result)
                watch.result = result
        return result, record

    async def add_markdown(self, session_id: str | None, content: str) -> dict[str, Any]:
        record, live = self._registry.session(session_id)
        async with self._registry.using(live) as client:
            result = await client.add_markdown(record.session_id, content)
            await self._mirror(live, record)
        self._events.publish({"type": "markdown_added", "session_id": record.session_id,
                              "sandbox_id": record.sandbox_id, "cell_index": result.cell_index})
        return {"cell_index": result.cell_index, "session_id": record.session_id}

    async def interrupt(self, session_id: str | None) -> dict[str, Any]:
        record, live = self._registry.session(session_id)
        async with self._registry.using(live) as client:
            info = await client.interrupt(record.session_id)
        self._events.publish({"type": "kernel_interrupted", "session_id": record.session_id,
                              "sandbox_id": record.sandbox_id})
        return {"session_id": record.session_id, "kernel_status": info.kernel_status}

    async def restart(self, session_id: str | None) -> dict[str, Any]:
        record, live = self._registry.session(session_id)
        async with self._registry.using(live) as client:
            info = await client.restart(record.session_id)
        self._events.publish({"type": "kernel_restarted", "session_id": record.session_id,
                              "sandbox_id": record.sandbox_id})
        return {"session_id": record.session_id, "kernel_status": info.kernel_status,
                "message": "fresh kernel: variables are gone, the notebook keeps every earlier cell"}

    async def read_notebook(self, session_id: str | None, start: int, limit: int) -> NotebookPage:
        record, live = self._registry.session(session_id)
        async with self._registry.using(live) as client:
            return await client.notebook_page(record.session_id, start, limit)

    async def notebook_bytes(self, session_id: str) -> bytes:
        """The session's .ipynb (a cli session's transcript), for a watcher.

        Not `using`: a person watching a notebook is not activity, and must not keep an
        idle sandbox from its idle limit.
        """
        record, live = self._registry.session(session_id)
        return await live.client.notebook_bytes(record.session_id)

    async def _mirror(self, live: LiveSandbox, record: SessionRecord, result: CellResult | None = None) -> None:
        if live.agent_mirrors or record.mirror_path is None or (result is not None and result.status == "running"):
            return
        data = await live.client.notebook_bytes(record.session_id)
        await asyncio.to_thread(write_atomically, Path(record.mirror_path), data)
