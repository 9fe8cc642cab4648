"""The backend contract: bring a sandbox agent up somewhere, and say how to reach it.

Abstract methods are what a backend must do; methods with a body are what a
backend may override. Everything past the agent's address (sessions, cells,
files) is one code path shared by every backend.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from seer_mcp.errors import InvalidRequest
from seer_mcp.progress import StepProgress, no_progress
from seer_mcp.settings import Settings
from seer_mcp.spec import SandboxSpec



@dataclass
class AgentAddress:
    """How the server reaches a sandbox agent: a Unix socket or a URL, and a token."""

    token: str
    socket_path: str | None = None
    url: str | None = None


@dataclass
class StartedSandbox:
    """What `Backend.start` hands back to the manager."""

    address: AgentAddress
    workspace_path: str  # the sandbox's working directory, as the agent sees it
    handle: dict[str, Any] = field(default_factory=dict)  # JSON-safe; saved for `attach` and `stop`
    agent_mirrors_notebooks: bool = False  # True when the agent writes the outputs-dir copy itself
    models: list[dict[str, Any]] = field(default_factory=list)  # ResolvedModel records, in spec order


@dataclass
class StartRequest:
    sandbox_id: str
    spec: SandboxSpec
    token: str
    outputs_dir: Path  # where this sandbox's notebooks are mirrored on the server's host
    progress: StepProgress = no_progress
    restore: dict[str, Any] | None = None  # what `Backend.snapshot` returned: start from that state
    idle_timeout: float | None = None  # the sandbox's own limits, which its agent enforces (no server needed)
    expires_at: float | None = None

    def agent_limit_args(self) -> list[str]:
        """The sandbox agent's arguments that make it keep these limits itself."""
        args = ["--idle-timeout", f"{self.idle_timeout:g}"] if self.idle_timeout else []
        return args + (["--expires-at", f"{self.expires_at:.3f}"] if self.expires_at else [])


@dataclass(frozen=True)
class BackendCapabilities:
    """What a backend's sandboxes can do. The rest of seer-mcp asks these, never a backend's name;
    the conformance suite (`seer_mcp.backends.conformance`) holds a backend to what it declares."""

    on_server_host: bool = False
    """Its sandboxes run on the server's machine: they end with the server under `terminate_on_exit`,
    and their kernels can reach a Unix socket of another sandbox here."""
    snapshots: bool = False
    """`snapshot` and `delete_snapshot` work. Without it, `snapshot` raises `InvalidRequest`."""
    gpus: bool = False
    """A spec's `gpu` can be met. Without it, `start` refuses a spec with a `gpu` (`InvalidRequest`)."""
    network_off: bool = False
    """A spec's `network=false` is enforced: the sandbox connects nowhere. Without it, `start` refuses
    `network=false` (`InvalidRequest`) rather than start a sandbox with a network."""


class Backend(abc.ABC):
    """One place sandboxes can run. Registered under the `seer_mcp.backends` entry point group."""

    name: ClassVar[str]
    capabilities: ClassVar[BackendCapabilities] = BackendCapabilities()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abc.abstractmethod
    async def start(self, request: StartRequest) -> StartedSandbox:
        """Called by the manager for `create_sandbox`: start an agent and return its address.

        Raises `SandboxStartError` (with what went wrong and what to do) when the
        sandbox cannot be brought up; it must leave nothing running behind.
        """

    @abc.abstractmethod
    async def stop(self, handle: dict[str, Any]) -> None:
        """Called on terminate, expiry and orphan cleanup: stop everything the sandbox runs.

        Must be idempotent and must not raise for a sandbox that is already gone.
        """

    @abc.abstractmethod
    async def is_alive(self, handle: dict[str, Any]) -> bool:
        """Called at server start to decide between re-attaching and cleaning up."""

    async def snapshot(self, handle: dict[str, Any], snapshot_id: str, progress: StepProgress = no_progress
                       ) -> dict[str, Any]:
        """Called for `snapshot_sandbox`: capture the sandbox's files; returns JSON-safe data that
        `start` (as `StartRequest.restore`) and `delete_snapshot` understand.

        Raises `InvalidRequest` when this backend cannot take snapshots.
        """
        raise InvalidRequest(f"the {self.name} backend cannot take snapshots")

    async def delete_snapshot(self, data: dict[str, Any]) -> None:
        """Called for `delete_snapshot`: free what `snapshot` stored. Must not raise if it is gone."""

    def address(self, handle: dict[str, Any], token: str) -> AgentAddress:
        """Called when re-attaching: the agent's address from a saved handle."""
        return AgentAddress(token=token, socket_path=handle.get("socket"), url=handle.get("url"))

    async def close(self) -> None:
        """Called once when the server shuts down."""
