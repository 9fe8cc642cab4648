"""Backends, found through the `seer_mcp.backends` entry point group.

The built-in ones register there exactly as a third party's would.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from seer_mcp.backends.base import Backend
from seer_mcp.errors import BackendNotFound
from seer_mcp.settings import Settings

GROUP = "seer_mcp.backends"

# What to install for a backend that is known but missing.
_INSTALL_HINTS = {"modal": "pip install 'seer-mcp[modal]' (and run `modal token new`)"}


def available_backends() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load_backend(name: str, settings: Settings) -> Backend:
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not matches:
        hint = _INSTALL_HINTS.get(name)
        known = ", ".join(available_backends()) or "none"
        raise BackendNotFound(
            f"unknown backend {name!r}; available: {known}" + (f". To use it: {hint}" if hint else ""))
    try:
        cls = matches[0].load()
    except ImportError as exc:
        raise BackendNotFound(f"backend {name!r} could not be imported ({exc}); "
                              f"{_INSTALL_HINTS.get(name, 'reinstall seer-mcp')}") from exc
    return cls(settings)
