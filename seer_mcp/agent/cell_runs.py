"""Cells that outlive the call that started them.

Clients give up on a tool call after a timeout of their own (openai-agents
after 5 s, Claude Desktop after about a minute), while experiments run cells
for half an hour. So a call waits for its cell only for its `wait`: past that
the reply says the cell is still running and carries the output so far, and
the cell runs on. A later wait picks it up, shows only the output not shown
before, and the result once the cell ends. Runs live here, in the agent, so a
cell survives the server process that started it (some clients start one per
call), and its final output lands in the notebook whoever is waiting.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from seer_mcp.wire import CellProgress, CellResult

PartialOutputs = Callable[[], list[dict[str, Any]]]
Listener = Callable[[CellProgress], Awaitable[None]]


@dataclass
class Cursor:
    """How much of a cell's outputs a caller has been shown."""

    outputs: int = 0  # outputs[:outputs] were shown whole
    chars: int = 0  # and this many characters of outputs[outputs], a stream that may still grow


def unseen(outputs: list[dict[str, Any]], cursor: Cursor) -> tuple[list[dict[str, Any]], Cursor]:
    """The outputs after `cursor`, and the cursor after them.

    A stream output grows while its cell runs, so the cursor keeps how much of
    the last one was shown. Outputs that shrank (the cell called clear_output)
    are shown again from the start.
    """
    index, chars = cursor.outputs, cursor.chars
    current = outputs[index] if index < len(outputs) else None
    shrank = index > len(outputs) or (chars and (current is None or len(_text(current)) < chars))
    if shrank:
        index, chars = 0, 0
    new: list[dict[str, Any]] = []
    for position in range(index, len(outputs)):
        output = outputs[position]
        if position == index and chars:
            rest = _text(output)[chars:]
            if rest:
                new.append({**output, "text": rest})
        else:
            new.append(output)
    if outputs and outputs[-1].get("output_type") == "stream":
        return new, Cursor(len(outputs) - 1, len(_text(outputs[-1])))
    return new, Cursor(len(outputs), 0)


def _text(output: dict[str, Any]) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else text


@dataclass
class CellRun:
    """One cell in flight: its task, how to read its outputs so far, and what was shown of them."""

    task: asyncio.Task[CellResult]
    partial: PartialOutputs
    cell_index: int  # where the cell will be saved
    started: float = field(default_factory=time.monotonic)
    cursor: Cursor = field(default_factory=Cursor)
    listener: Listener | None = None  # the caller waiting now, who gets progress

    async def report(self, progress: CellProgress) -> None:
        """The progress handler the cell runs with: forwarded to whoever waits for it now."""
        if self.listener is not None:
            await self.listener(progress)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def still_running(self) -> CellResult:
        """The reply for a caller whose wait ran out: the output it has not seen yet."""
        outputs, self.cursor = unseen(self.partial(), self.cursor)
        return CellResult(status="running", cell_index=self.cell_index, outputs=outputs, duration=self.elapsed,
                          message=f"still running after {self.elapsed:.0f} s")

    def finished(self) -> CellResult:
        """The cell's result, holding only the outputs not shown to an earlier caller."""
        result = self.task.result()
        if self.cursor.outputs or self.cursor.chars:
            outputs, self.cursor = unseen(result.outputs, self.cursor)
            result = result.model_copy(update={"outputs": outputs, "continued": True})
        return result


class CellRuns:
    """The cells of each session that a caller stopped waiting for."""

    def __init__(self) -> None:
        self._detached: dict[str, CellRun] = {}

    def detach(self, session_id: str, run: CellRun) -> None:
        self._detached[session_id] = run

    def take(self, session_id: str) -> CellRun | None:
        """The session's detached cell, now in the caller's hands."""
        return self._detached.pop(session_id, None)

    def settle_before_next(self, session_id: str) -> str:
        """Called before a new cell: refuses while the detached one runs; a finished one becomes a note."""
        run = self._detached.get(session_id)
        if run is None:
            return ""
        if not run.task.done():
            raise CellStillRunning(
                f"cell {run.cell_index} is still running (for {run.elapsed:.0f} s): call wait_cell to see its "
                "output, or interrupt_kernel to stop it, before running another cell")
        del self._detached[session_id]
        try:
            result = run.task.result()
        except Exception as exc:  # the cell's own failure was never shown: say it here
            return f"cell {run.cell_index}, which was still running, failed: {exc}"
        return (f"cell {run.cell_index}, which was still running, finished meanwhile ({result.status}, "
                f"{result.duration:.1f} s); its output is in the notebook (read_notebook shows it)")

    def forget(self, session_id: str) -> None:
        self._detached.pop(session_id, None)


class CellStillRunning(ValueError):
    """A new cell was asked for while a detached one still runs in the session."""
