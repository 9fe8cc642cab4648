"""What every tool module shares: reaching the manager, and errors the model can act on."""

from __future__ import annotations

import functools
import logging
from typing import Any, Awaitable, Callable, TypeVar

from fastmcp import Context
from fastmcp.exceptions import ToolError

from seer_mcp.progress import StepProgress
from seer_mcp.errors import SeerError
from seer_mcp.manager.facade import SandboxManager
from seer_mcp.settings import Settings

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def manager_of(ctx: Context) -> SandboxManager:
    """The server's manager; for a server bound to a session, a `BoundManager` held to that scope."""
    return ctx.lifespan_context["manager"]


def settings_of(ctx: Context) -> Settings:
    return manager_of(ctx).settings


def model_errors(fn: F) -> F:
    """Every failure becomes a tool error with a message the model can act on.

    Our own errors carry their message as it is; anything unexpected is logged
    with its traceback and reported by type, and the server goes on serving.
    """

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except ToolError:
            raise
        except SeerError as exc:
            raise ToolError(str(exc)) from exc
        except Exception as exc:
            log.exception("tool %s failed", fn.__name__)
            raise ToolError(f"internal error in {fn.__name__}: {type(exc).__name__}: {exc}") from exc

    return wrapper  # type: ignore[return-value]


def progress_of(ctx: Context) -> StepProgress:
    """Forwards (progress, total, message) to the client as MCP progress notifications."""

    async def report(progress: float, total: float | None, message: str) -> None:
        try:
            await ctx.report_progress(progress, total, message or None)
        except Exception:  # a client that went away must not fail the work itself
            log.debug("progress notification dropped", exc_info=True)

    return report
