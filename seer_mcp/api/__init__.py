"""The Python API for scripts, in Seer's shape: sandboxes, workspaces and sessions, on the same
manager the MCP tools use.

    from seer_mcp import Sandbox, SandboxConfig, ModelConfig, Workspace, Library, create_notebook_session

    sandbox = Sandbox(SandboxConfig(models=[ModelConfig(name="google/gemma-2-2b-it")])).start()
    session = create_notebook_session(sandbox, Workspace(libraries=[Library.from_file("helpers.py")]))
    print(session.exec("print(model.config.num_hidden_layers)"))
    # hand session.mcp_config to an agent framework; it works in that notebook only
    sandbox.terminate()
"""

from seer_mcp.api.config import ExecutionMode, ModelConfig, RepoConfig, SandboxConfig
from seer_mcp.api.runtime import Runtime, default_runtime, set_default_runtime
from seer_mcp.api.sandbox import CommandFailed, ModelHandle, RepoHandle, Sandbox, ScopedSandbox, Snapshot
from seer_mcp.api.sessions import (
    CLISession,
    LocalNotebookSession,
    LocalSession,
    NotebookSession,
    SessionError,
    acreate_notebook_session,
    create_cli_session,
    create_local_notebook_session,
    create_local_session,
    create_notebook_session,
)
from seer_mcp.api.workspace import Library, Skill, Workspace

__all__ = [
    "CLISession", "CommandFailed", "ExecutionMode", "Library", "LocalNotebookSession", "LocalSession",
    "ModelConfig", "ModelHandle", "NotebookSession", "RepoConfig", "RepoHandle", "Runtime", "Sandbox",
    "SandboxConfig", "ScopedSandbox", "SessionError", "Skill", "Snapshot", "Workspace",
    "acreate_notebook_session", "create_cli_session", "create_local_notebook_session", "create_local_session",
    "create_notebook_session", "default_runtime", "set_default_runtime",
]
