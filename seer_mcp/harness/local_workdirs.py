"""Where an agent of a local session works: the session's folder, with Claude Code's own tools.

Seer's local session is "the agent runs on your machine": `create_local_session(workspace, workspace_dir)`
writes the libraries (served interfaces' clients among them) into a folder, and `run_agent(prompt,
mcp_config={})` hands the agent its host tools there. A script that made no local session keeps the safe
default: an agent given no MCP servers gets no tools at all (a judge, a plain question).

The API's `LocalSession` opens its folder here when it is made and closes it at `terminate()`; `run_agent`
asks which folder an empty `mcp_config` means. `LocalMcpConfig` is the session's own `mcp_config`: an empty
dict, as Seer's is, that remembers its folder, so that with several local sessions each agent gets its own.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

__all__ = ["LocalMcpConfig", "close_local_workdir", "local_workdir_for", "open_local_workdir"]

_lock = threading.Lock()
_open: list[Path] = []  # oldest first


class LocalMcpConfig(dict[str, Any]):
    """A local session's `mcp_config`: no MCP servers (it equals `{}`), and the folder its agent works in."""

    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.workdir = workdir

    def __repr__(self) -> str:
        return f"LocalMcpConfig(workdir={str(self.workdir)!r})"


def open_local_workdir(folder: Path) -> None:
    with _lock:
        if folder in _open:
            _open.remove(folder)
        _open.append(folder)


def close_local_workdir(folder: Path) -> None:
    with _lock:
        if folder in _open:
            _open.remove(folder)


def local_workdir_for(mcp_config: dict[str, Any] | None) -> Path | None:
    """The folder whose local session an agent given `mcp_config` belongs to, or None.

    A session's own `mcp_config` names its folder; a plain `{}` (or None) means the newest local session still
    open in this process; any MCP server means the agent works through those servers, not on this machine.
    """
    if isinstance(mcp_config, LocalMcpConfig):
        return mcp_config.workdir
    if mcp_config:
        return None
    with _lock:
        return _open[-1] if _open else None
