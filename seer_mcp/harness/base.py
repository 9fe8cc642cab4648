"""What the providers share: errors, the default model, and the conversation interface they implement."""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any, Protocol

__all__ = ["DEFAULT_MODEL", "DEFAULT_USER_MESSAGE", "PROVIDERS", "Conversation", "HarnessError",
           "MissingDependencyError", "require", "resolve_model"]

DEFAULT_MODEL = "claude-sonnet-5-5"  # claude-sonnet-4-5 reaches end of life on 2026-11-30
# The prompt is the agent's system prompt (its task); the first user turn only has to set it going.
DEFAULT_USER_MESSAGE = "Begin."
PROVIDERS = ("claude", "anthropic", "scripted")  # scripted: a Python coroutine as the agent (no model)


class HarnessError(RuntimeError):
    """The agent could not be run: a missing package or credential, a bad argument, an API failure."""


class MissingDependencyError(HarnessError, ImportError):
    """A provider's SDK is not installed."""


def require(module: str, package: str) -> ModuleType:
    """Imports a provider's SDK, or says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the harness needs the {package!r} package ({exc}); install the harness extra: "
            "pip install 'seer-mcp[harness]'") from exc


def resolve_model(model: str | None) -> str:
    """`model`, else `SEER_AGENT_MODEL`, else `DEFAULT_MODEL`."""
    return model or os.environ.get("SEER_AGENT_MODEL") or DEFAULT_MODEL


def server_names(mcp_config: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """What a transcript records of each MCP server: its transport and where it is, never its headers or env
    (they carry bearer tokens and keys)."""
    described = {}
    for name, entry in (mcp_config or {}).items():
        kind = entry.get("type") or entry.get("transport") or ("stdio" if "command" in entry else "http")
        described[name] = {"type": kind, **({"url": entry["url"]} if "url" in entry else {}),
                           **({"command": entry["command"], "args": entry.get("args", [])}
                              if "command" in entry else {})}
    return described


class Conversation(Protocol):
    """One agent session: entered once, then any number of user turns (interactive mode uses several)."""

    async def __aenter__(self) -> "Conversation": ...

    async def __aexit__(self, *exc: Any) -> None: ...

    def turn(self, user_message: str) -> AsyncIterator[Any]:
        """Sends a user message; yields the agent's messages until it has answered (ends with a `final`)."""
        ...

    async def interrupt(self) -> list[Any]:
        """Called after a turn was cancelled: stops the agent's side, returns messages that still came in."""
        ...
