"""The configuration models of the Python API, in Seer's shape, on the models the tools use.

`SandboxConfig` is a `SandboxSpec` (what `create_sandbox` and `configs/*.toml`
validate with) plus Seer's names: `execution_mode`, and `local_files` /
`local_dirs` as `(host path, sandbox path)` pairs.
"""

from __future__ import annotations

import enum
from pathlib import PurePosixPath

from pydantic import Field

from seer_mcp.spec import ModelSpec, RepoSpec, SandboxSpec
from seer_mcp.workspace import WorkspaceSpec

__all__ = ["ExecutionMode", "ModelConfig", "RepoConfig", "SandboxConfig"]

ModelConfig = ModelSpec
RepoConfig = RepoSpec


class ExecutionMode(str, enum.Enum):
    NOTEBOOK = "notebook"
    CLI = "cli"


def workspace_relative(path: str) -> str:
    """A sandbox path as the workspace knows it: Seer's "/workspace/x" is "x"."""
    pure = PurePosixPath(path)
    if pure.is_absolute():
        if pure.parts[:2] != ("/", "workspace"):
            raise ValueError(f"sandbox path {path!r} must be inside /workspace (or relative to it)")
        pure = PurePosixPath(*pure.parts[2:]) if len(pure.parts) > 2 else PurePosixPath(".")
    return str(pure)


class SandboxConfig(SandboxSpec):
    execution_mode: ExecutionMode = Field(default=ExecutionMode.NOTEBOOK,
                                          description="What sessions on this sandbox are by default.")
    local_files: list[tuple[str, str]] = Field(default_factory=list,
                                               description="(host file, sandbox path) pairs copied in at start.")
    local_dirs: list[tuple[str, str]] = Field(default_factory=list,
                                              description="(host folder, sandbox path) pairs copied in at start.")

    def to_spec(self) -> SandboxSpec:
        """The plain spec: Seer's file pairs folded into the workspace."""
        data = self.model_dump(exclude={"execution_mode", "local_files", "local_dirs"})
        workspace = WorkspaceSpec.model_validate(data.pop("workspace"))
        workspace.local_files.update({host: workspace_relative(dest) for host, dest in self.local_files})
        workspace.local_dirs.update({host: workspace_relative(dest) for host, dest in self.local_dirs})
        return SandboxSpec(**data, workspace=workspace)
