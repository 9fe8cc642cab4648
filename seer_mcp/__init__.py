"""seer-mcp: sandboxes, notebooks and models for AI agents running interpretability experiments.

The MCP server is `seer-mcp serve`. Scripts use the Python API from here
(`from seer_mcp import Sandbox, SandboxConfig, ...`, see `seer_mcp.api`); it is
imported on first use, so the sandbox agent and `seer_mcp.interface` stay light.
"""

from typing import Any

from seer_mcp.version import __version__

_API = (
    "CLISession", "CommandFailed", "ExecutionMode", "Library", "LocalNotebookSession", "LocalSession",
    "ModelConfig", "ModelHandle", "NotebookSession", "RepoConfig", "RepoHandle", "Runtime", "Sandbox",
    "SandboxConfig", "ScopedSandbox", "SessionError", "Skill", "Snapshot", "Workspace",
    "acreate_notebook_session", "create_cli_session", "create_local_notebook_session", "create_local_session",
    "create_notebook_session", "default_runtime", "set_default_runtime",
)

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from seer_mcp import api

        return getattr(api, name)
    raise AttributeError(f"module 'seer_mcp' has no attribute {name!r}")
