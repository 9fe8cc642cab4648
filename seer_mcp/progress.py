"""The two kinds of progress seer-mcp reports, each with one name.

- `StepProgress`: how far a long operation is (starting a sandbox, fetching a
  model, replaying a snapshot), as (done, total or None, message); the tools
  forward it to the client as MCP progress notifications.
- `CellProgressHandler`: a running cell's or shell command's output as it
  comes (`wire.CellProgress`), from the kernel through the agent and the
  server to the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable

if TYPE_CHECKING:
    from seer_mcp.wire import CellProgress

StepProgress = Callable[[float, float | None, str], Awaitable[None]]
CellProgressHandler = Callable[["CellProgress"], Awaitable[None]]


async def no_progress(progress: float, total: float | None, message: str) -> None:
    """A `StepProgress` for callers that do not follow progress."""
    return None
