"""`Sandbox` and `ScopedSandbox` for scripts: the manager the MCP tools use, called from Python.

Every method that does work has a blocking form (`start()`, `exec()`, ...)
that works from plain code and from inside a running event loop, and an
awaitable twin with an `a` prefix (`astart()`, `aexec()`, ...) that does not
block the caller's loop. `await sandbox.start()` also works.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generator

from seer_mcp.api.config import SandboxConfig, workspace_relative
from seer_mcp.api.implicit_imports import with_implicit_imports
from seer_mcp.api.runtime import Runtime, default_runtime
from seer_mcp.api.workspace import Library
from seer_mcp.backends import choose_backend
from seer_mcp.errors import SeerError
from seer_mcp.fileio import write_atomically
from seer_mcp.manager.interface_client import RUNTIME_FILE
from seer_mcp.manager.scope import Scope
from seer_mcp.spec import SandboxSpec

__all__ = ["ModelHandle", "RepoHandle", "Sandbox", "ScopedSandbox", "Snapshot"]


class CommandFailed(SeerError):
    """A command run with `Sandbox.exec(..., check=True)` exited non-zero."""


@dataclass(frozen=True)
class ModelHandle:
    var_name: str
    name: str  # "<hidden>" for hidden models
    path: str  # inside the sandbox
    base_path: str | None
    is_peft: bool
    hidden: bool


@dataclass(frozen=True)
class RepoHandle:
    url: str
    path: str  # inside the sandbox


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    name: str | None
    sandbox_id: str


class _Awaitable:
    """Lets `await obj.start()` work where `start()` already did the work and returned `obj`."""

    def __await__(self) -> Generator[Any, None, Any]:
        return self
        yield  # a generator that returns at once


class Sandbox(_Awaitable):
    """A sandbox a script controls: `Sandbox(SandboxConfig(...)).start()`."""

    def __init__(self, config: SandboxConfig | SandboxSpec | None = None, runtime: Runtime | None = None) -> None:
        self.config = config if config is not None else SandboxConfig()
        self.runtime = runtime or default_runtime()
        self.info: dict[str, Any] | None = None
        self._restore: str | None = None

    # ----- lifecycle -------------------------------------------------------------

    def start(self) -> "Sandbox":
        self.runtime.run(self._start())
        return self

    async def astart(self) -> "Sandbox":
        await self.runtime.arun(self._start())
        return self

    async def _start(self) -> None:
        if self.info is not None:
            return
        spec = self.config.to_spec() if isinstance(self.config, SandboxConfig) else self.config
        if "backend" not in self.config.model_fields_set:
            # A script is its operator's: a config that names no backend runs on the operator's default, or on
            # Modal for a GPU the default cannot give, as Seer's scripts expect. (An agent's create_sandbox is
            # never sent to a paid backend it did not name.)
            spec = spec.model_copy(update={"backend": choose_backend(None, spec.gpu,
                                                                     self.runtime.settings.default_backend)})
        manager = self.runtime.manager
        if self._restore is not None:
            self.info = await manager.snapshots.restore(self._restore)
        else:
            self.info = await manager.create_sandbox(spec, host_roots=[Path("/")])
        self.runtime.own(self.sandbox_id)

    def terminate(self) -> None:
        if self.info is not None and self.info.get("status") != "terminated":
            self.runtime.run(self._terminate())

    async def aterminate(self) -> None:
        if self.info is not None and self.info.get("status") != "terminated":
            await self.runtime.arun(self._terminate())

    async def _terminate(self) -> None:
        assert self.info is not None
        await self.runtime.manager.terminate_sandbox(self.sandbox_id, detail="terminated by the script")
        self.runtime.disown(self.sandbox_id)
        self.info["status"] = "terminated"

    def __enter__(self) -> "Sandbox":
        return self if self.info is not None else self.start()

    def __exit__(self, *exc: Any) -> None:
        self.terminate()

    async def __aenter__(self) -> "Sandbox":
        return self if self.info is not None else await self.astart()

    async def __aexit__(self, *exc: Any) -> None:
        await self.aterminate()

    # ----- what it is ----------------------------------------------------------------

    def _started(self) -> dict[str, Any]:
        if self.info is None:
            raise RuntimeError("the sandbox is not started yet: call .start() first")
        return self.info

    @property
    def sandbox_id(self) -> str:
        return self._started()["sandbox_id"]

    @property
    def workspace_path(self) -> str:
        return self._started()["workspace_path"]

    @property
    def outputs_path(self) -> str:
        return self._started()["outputs_path"]

    @property
    def jupyter_url(self) -> str | None:
        """JupyterLab on the sandbox's workspace, with its token (sandboxes started with debug=True)."""
        return self._started().get("debug_url")

    @property
    def code_server_url(self) -> str | None:
        """seer-mcp's watch link is JupyterLab (see `jupyter_url`); there is no VS Code server."""
        return None

    @property
    def model_handles(self) -> list[ModelHandle]:
        from seer_mcp.models import ResolvedModel

        live = self.runtime.manager.sandbox(self.sandbox_id)
        handles = []
        for data in live.record.handle.get("models", []):
            model = ResolvedModel.from_record(data)
            handles.append(ModelHandle(model.spec.var_name, model.display_name, model.path, model.base_path,
                                       model.spec.is_peft, model.spec.hidden))
        return handles

    @property
    def repo_handles(self) -> list[RepoHandle]:
        spec = SandboxSpec.model_validate(self.runtime.manager.sandbox(self.sandbox_id).record.spec)
        return [RepoHandle(repo.url, f"{self.workspace_path}/{repo.folder}") for repo in spec.repos]

    # ----- working in it --------------------------------------------------------------

    def exec(self, cmd: str, timeout: float = 600, check: bool = False) -> str:
        """Runs a bash command in the workspace; returns its stdout and stderr together."""
        return self.runtime.run(self._exec(cmd, timeout, check))

    async def aexec(self, cmd: str, timeout: float = 600, check: bool = False) -> str:
        return await self.runtime.arun(self._exec(cmd, timeout, check))

    async def _exec(self, cmd: str, timeout: float, check: bool) -> str:
        result = await self.runtime.manager.exec(self.sandbox_id, cmd, timeout)
        output = result.stdout + result.stderr
        if check and (result.exit_code != 0 or result.timed_out):
            raise CommandFailed(f"`{cmd}` failed (exit {result.exit_code}, timed out: {result.timed_out}):\n"
                                f"{output[-2000:]}")
        return output

    def exec_python(self, code: str, timeout: float = 600, check: bool = False) -> str:
        """Runs Python code in a fresh interpreter in the sandbox (not a notebook kernel).

        As in Seer, `torch`, `np` and `transformers` may be used without importing them: a module the
        code uses but never binds is imported first (`exec_python("print(torch.cuda.is_available())")`).
        """
        return self.exec(f"python -c {shlex.quote(with_implicit_imports(code))}", timeout, check)

    async def aexec_python(self, code: str, timeout: float = 600, check: bool = False) -> str:
        return await self.aexec(f"python -c {shlex.quote(with_implicit_imports(code))}", timeout, check)

    def write_file(self, path: str, content: str) -> None:
        self.runtime.run(self.runtime.manager.write_file(self.sandbox_id, workspace_relative(path), content))

    async def awrite_file(self, path: str, content: str) -> None:
        await self.runtime.arun(self.runtime.manager.write_file(self.sandbox_id, workspace_relative(path), content))

    def ensure_dir(self, path: str) -> None:
        self.exec(f"mkdir -p {shlex.quote(workspace_relative(path))}", check=True)

    async def aensure_dir(self, path: str) -> None:
        await self.aexec(f"mkdir -p {shlex.quote(workspace_relative(path))}", check=True)

    # ----- snapshots --------------------------------------------------------------------

    def snapshot(self, name: str | None = None) -> Snapshot:
        return self.runtime.run(self._snapshot(name))

    async def asnapshot(self, name: str | None = None) -> Snapshot:
        return await self.runtime.arun(self._snapshot(name))

    async def _snapshot(self, name: str | None) -> Snapshot:
        taken = await self.runtime.manager.snapshots.take(self.sandbox_id, name)
        return Snapshot(taken["snapshot_id"], name, self.sandbox_id)

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot | str, config: SandboxConfig | None = None,
                      runtime: Runtime | None = None) -> "Sandbox":
        """A running sandbox started from a snapshot: its files, with the snapshot's spec (as in Seer;
        a later `.start()` does nothing).

        `config` is kept for reference (`sandbox.config`); the sandbox is rebuilt from what the
        snapshot recorded, so it matches the sandbox the snapshot was taken of.
        """
        return cls._restoring(snapshot, config, runtime).start()

    @classmethod
    async def afrom_snapshot(cls, snapshot: Snapshot | str, config: SandboxConfig | None = None,
                             runtime: Runtime | None = None) -> "Sandbox":
        return await cls._restoring(snapshot, config, runtime).astart()

    @classmethod
    def _restoring(cls, snapshot: Snapshot | str, config: SandboxConfig | None, runtime: Runtime | None) -> "Sandbox":
        sandbox = cls(config, runtime)
        sandbox._restore = snapshot.snapshot_id if isinstance(snapshot, Snapshot) else snapshot
        return sandbox


class ScopedSandbox(Sandbox):
    """A sandbox whose agent sees only what `serve` exposes of it."""

    def serve(self, file: str | Path, expose_as: str = "library", name: str | None = None,
              call_timeout: float | None = None) -> Library | dict[str, Any]:
        """Serves an interface file in the sandbox.

        `expose_as="library"` returns a `Library` (put it in a `Workspace`: the agent does
        `import <name>`); `expose_as="mcp"` returns an MCP config (server name -> entry) for a
        server that shows the interface's functions as tools and nothing else.
        """
        return self.runtime.run(self._serve(file, expose_as, name, call_timeout))

    async def aserve(self, file: str | Path, expose_as: str = "library", name: str | None = None,
                     call_timeout: float | None = None) -> Library | dict[str, Any]:
        return await self.runtime.arun(self._serve(file, expose_as, name, call_timeout))

    async def _serve(self, file: str | Path, expose_as: str, name: str | None,
                     call_timeout: float | None) -> Library | dict[str, Any]:
        path = Path(file).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"interface file {file} does not exist")
        name = name or path.stem
        served = await self.runtime.manager.interfaces.serve(
            self.sandbox_id, name, host_path=path, expose_as=expose_as, call_timeout=call_timeout, trusted=True)
        if expose_as == "library":
            # The client imports the runtime written beside it, so both travel: as a package named for the
            # interface, kept in the serving sandbox's outputs dir next to the client it copies.
            client_path = Path(served["client_paths"][0])
            package = client_path.parent / "library" / name
            package.mkdir(parents=True, exist_ok=True)
            write_atomically(package / "__init__.py", client_path.read_bytes(), 0o600)  # it holds a token
            write_atomically(package / RUNTIME_FILE, client_path.with_name(RUNTIME_FILE).read_bytes(), 0o600)
            return Library.from_skill_dir(package, name)
        from seer_mcp.tools.groups import INTERFACE_TOOLS

        instructions = (f"Tools of the interface {name!r}:\n" + "\n".join(
            f"- {f['tool']}: {f['signature']}" + (f" -- {f['doc']}" if f["doc"] else "")
            for f in served["functions"]))
        session = await self.runtime.serve(Scope(sandbox_id=self.sandbox_id, interfaces={name}),
                                           {"call_interface", "list_interfaces", INTERFACE_TOOLS}, instructions)
        return session.mcp_config(name)
