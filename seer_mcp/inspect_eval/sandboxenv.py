"""A seer-mcp sandbox as an Inspect sandbox environment: `sandbox=("seer", "configs/x.toml")`.

Each sample gets the experiment config's sandbox, session and interfaces, set up as `seer-mcp serve
--experiment` sets them up (`seer_mcp.experiments.provision`), with the sample's metadata filling the
config's `{variable}` placeholders as a sweep's grid does. Inspect's own tools (`bash()`, `python()`)
and scorers reach it through `exec`, `read_file` and `write_file`; the agent's seer-mcp tools reach
the same sandbox through `mcp_server()`, a bound MCP server held to the sample's session with only
the tools the config's `[agent]` allows. The sandbox is terminated at the sample's cleanup, and by
the runtime at exit for any a crash left behind.

Everything runs on one `seer_mcp.api.Runtime` per process (its own event loop and manager), which
Inspect's loop awaits. Files: relative paths are the workspace's; an absolute path in the workspace
goes straight to it, one elsewhere through a copy made by a command in the sandbox.
"""

from __future__ import annotations

import re
import shlex
import uuid
from pathlib import Path
from typing import Any, Literal, Union, overload

from inspect_ai.tool import MCPServer, mcp_server_http
from inspect_ai.util import ExecResult, SandboxEnvironment, SandboxEnvironmentConfigType, sandboxenv
from inspect_ai.util._sandbox.environment import SandboxUserUnsupportedError
from pydantic import BaseModel, ConfigDict, Field

from seer_mcp.errors import InvalidRequest, NotFound, PathOutsideSandbox
from seer_mcp.limits import MAX_EXEC_TIMEOUT_S

__all__ = ["SeerSandboxConfig", "SeerSandboxEnvironment", "shared_runtime"]

_SCRATCH = ".inspect"  # the workspace folder where stdin and copies to or from other paths pass through
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEFAULT_EXEC_TIMEOUT_S = 600.0  # Inspect's "no timeout", held to what a seer-mcp command may take


class SeerSandboxConfig(BaseModel, frozen=True):
    """The sandbox's config in a task: the experiment config, and what a sweep would change in it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: str = Field(description="An experiment config (TOML), as `seer-mcp run` takes.")
    # "key=value" items, as `seer-mcp sweep --set` takes them: Inspect hashes sandbox configs, so no dict here.
    sets: tuple[str, ...] = Field(default=(), description="Config keys to set, as --set does.")
    parallel: int | None = Field(default=None, ge=1, description="Samples at a time, for the local backend's "
                                 "thread share (default: the config's [sweep] parallel).")


def shared_runtime() -> Any:
    """The process's seer-mcp runtime (the Python API's), started on first use; at exit it terminates every
    sandbox it started."""
    from seer_mcp.api.runtime import default_runtime

    return default_runtime()


def _as_config(config: SandboxEnvironmentConfigType | None) -> SeerSandboxConfig:
    if isinstance(config, SeerSandboxConfig):
        return config
    if isinstance(config, str) and config:
        return SeerSandboxConfig(config=config)
    raise ValueError('the "seer" sandbox needs an experiment config: sandbox=("seer", "configs/x.toml") or '
                     'sandbox=("seer", SeerSandboxConfig(config="configs/x.toml"))')


@sandboxenv(name="seer")
class SeerSandboxEnvironment(SandboxEnvironment):
    """One sample's seer-mcp sandbox (see the module's docstring)."""

    def __init__(self, runtime: Any, provisioned: Any, served: Any, allowed: set[str]) -> None:
        super().__init__()
        self.runtime = runtime
        self.provisioned = provisioned
        self.served = served
        self.allowed = allowed

    # ----- what the solver and scorer use ----------------------------------------------

    @property
    def sandbox_id(self) -> str:
        return self.provisioned.sandbox_id

    @property
    def workspace_path(self) -> str:
        return self.provisioned.sandbox["workspace_path"]

    @property
    def notebook_path(self) -> str | None:
        """The session's notebook on this machine (its copy under the outputs dir)."""
        session = self.provisioned.session
        return (session.get("notebook_copy") or session.get("notebook_path")) if session else None

    @property
    def instructions(self) -> str:
        """What `seer-mcp serve --experiment` tells its agent: the session, models, libraries, interfaces."""
        return self.provisioned.instructions(self.allowed)

    def mcp_server(self, name: str = "seer-mcp") -> MCPServer:
        """The sample's MCP server for Inspect's agents: `react(tools=[env.mcp_server()])`."""
        return mcp_server_http(name=name, url=self.served.url, authorization=self.served.token, timeout=30,
                               sse_read_timeout=MAX_EXEC_TIMEOUT_S + 60)

    # ----- lifecycle ------------------------------------------------------------------

    @classmethod
    def config_deserialize(cls, config: dict[str, Any]) -> BaseModel:
        return SeerSandboxConfig(**config)

    @classmethod
    async def sample_init(cls, task_name: str, config: SandboxEnvironmentConfigType | None,
                          metadata: dict[str, str]) -> dict[str, SandboxEnvironment]:
        from seer_mcp.experiments.provision import provision
        from seer_mcp.experiments.sweep import Sweep, parse_sets
        from seer_mcp.manager.scope import Scope

        settings = _as_config(config)
        sweep = Sweep(Path(settings.config), parallel=settings.parallel, sets=parse_sets(list(settings.sets)),
                      require_sweep=False)
        experiment = sweep.config_for(sweep.cell_of(metadata or {}))
        runtime = shared_runtime()
        provisioned = await runtime.arun(provision(runtime.manager, experiment))
        runtime.own(provisioned.sandbox_id)
        try:
            allowed = experiment.allowed_tools()
            session_id = provisioned.session["session_id"] if provisioned.session else None
            scope = Scope(session_id=session_id, sandbox_id=provisioned.sandbox_id,
                          interfaces={served["name"] for served in provisioned.interfaces})
            served = await runtime.arun(runtime.serve(scope, allowed, provisioned.instructions(allowed)))
        except BaseException:
            await runtime.arun(runtime.manager.terminate_sandbox(provisioned.sandbox_id,
                                                                 detail="setting up the Inspect sample failed"))
            runtime.disown(provisioned.sandbox_id)
            raise
        return {"default": cls(runtime, provisioned, served, allowed)}

    @classmethod
    async def sample_cleanup(cls, task_name: str, config: SandboxEnvironmentConfigType | None,
                             environments: dict[str, SandboxEnvironment], interrupted: bool) -> None:
        for environment in environments.values():
            if isinstance(environment, SeerSandboxEnvironment):
                await environment.close("the Inspect sample ended" + (" (interrupted)" if interrupted else ""))

    async def close(self, detail: str) -> None:
        runtime = self.runtime
        try:
            await runtime.arun(runtime.stop_serving(self.served))
        finally:
            await runtime.arun(runtime.manager.terminate_sandbox(self.sandbox_id, detail=detail))
            runtime.disown(self.sandbox_id)

    # ----- commands and files -----------------------------------------------------------

    async def exec(self, cmd: list[str], input: str | bytes | None = None, cwd: str | None = None,
                   env: dict[str, str] | None = None, user: str | None = None, timeout: int | None = None,
                   timeout_retry: bool = True, concurrency: bool = True) -> ExecResult[str]:
        if user is not None:
            raise SandboxUserUnsupportedError(
                f"a seer-mcp sandbox runs commands as its one user; it cannot run them as {user!r}")
        if not cmd:
            raise ValueError("exec needs a command")
        script = shlex.join(cmd)
        stdin = None
        if input is not None:
            stdin = await self._scratch_upload(input.encode("utf-8") if isinstance(input, str) else input)
            script = f"{script} < {shlex.quote(stdin)}"
        for name, value in (env or {}).items():
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"exec: {name!r} is not an environment variable name")
            script = f"export {name}={shlex.quote(value)}; {script}"
        if cwd:
            script = f"cd -- {shlex.quote(cwd)} && {script}"
        limit = float(timeout) if timeout else _DEFAULT_EXEC_TIMEOUT_S
        try:
            result = await self._on_runtime(self.runtime.manager.exec(self.sandbox_id, script, limit))
        finally:
            if stdin is not None:
                await self._scratch_remove(stdin)
        if result.timed_out:
            raise TimeoutError(f"the command ran past its {limit:g} s timeout: {script[:200]}")
        return ExecResult(success=result.exit_code == 0, returncode=result.exit_code or 0,
                          stdout=result.stdout, stderr=result.stderr)

    async def write_file(self, file: str, contents: str | bytes) -> None:
        data = contents.encode("utf-8") if isinstance(contents, str) else contents
        try:
            await self._upload(file, data)
            return
        except PathOutsideSandbox:
            pass
        scratch = await self._scratch_upload(data)
        target = shlex.quote(file)
        copied = await self.exec(["bash", "-c", f'mkdir -p -- "$(dirname -- {target})" && '
                                  f'cat -- {shlex.quote(scratch)} > {target}'])
        await self._scratch_remove(scratch)
        if not copied.success:
            raise _file_error(file, copied.stderr)

    @overload
    async def read_file(self, file: str, text: Literal[True] = True) -> str: ...

    @overload
    async def read_file(self, file: str, text: Literal[False]) -> bytes: ...

    async def read_file(self, file: str, text: bool = True) -> Union[str | bytes]:
        try:
            data = await self._download(file)
        except PathOutsideSandbox:
            scratch = f"{_SCRATCH}/copy-{uuid.uuid4().hex}"
            copied = await self.exec(["bash", "-c", f"mkdir -p {_SCRATCH} && cat -- {shlex.quote(file)} > "
                                      f"{shlex.quote(scratch)}"])
            try:
                if not copied.success:
                    raise _file_error(file, copied.stderr) from None
                data = await self._download(scratch)
            finally:
                await self._scratch_remove(scratch)
        return data.decode("utf-8") if text else data

    # ----- plumbing -------------------------------------------------------------------

    async def _on_runtime(self, coro: Any) -> Any:
        return await self.runtime.arun(coro)

    async def _upload(self, path: str, data: bytes) -> None:
        manager = self.runtime.manager

        async def put() -> None:
            async with manager.using(manager.sandbox(self.sandbox_id)) as client:
                await client.upload(path, data)
        try:
            await self._on_runtime(put())
        except PathOutsideSandbox:
            raise
        except InvalidRequest as exc:
            raise _file_error(path, str(exc)) from None

    async def _download(self, path: str) -> bytes:
        manager = self.runtime.manager

        async def get() -> bytes:
            async with manager.using(manager.sandbox(self.sandbox_id)) as client:
                return await client.download(path)
        try:
            return await self._on_runtime(get())
        except NotFound as exc:
            raise FileNotFoundError(str(exc)) from None
        except PathOutsideSandbox:
            raise
        except InvalidRequest as exc:
            raise _file_error(path, str(exc)) from None

    async def _scratch_upload(self, data: bytes) -> str:
        path = f"{_SCRATCH}/in-{uuid.uuid4().hex}"
        await self._upload(path, data)
        return path

    async def _scratch_remove(self, path: str) -> None:
        await self._on_runtime(self.runtime.manager.exec(self.sandbox_id, f"rm -f -- {shlex.quote(path)}", 30))


def _file_error(path: str, message: str) -> OSError:
    """The OSError Inspect's contract names for what a file operation's message says."""
    lowered = message.lower()
    if "no such file" in lowered or "no file at" in lowered or "not found" in lowered:
        return FileNotFoundError(f"{path}: {message.strip()}")
    if "is a directory" in lowered:
        return IsADirectoryError(f"{path}: {message.strip()}")
    if "permission denied" in lowered or "read-only" in lowered:
        return PermissionError(f"{path}: {message.strip()}")
    return OSError(f"{path}: {message.strip()}")
