"""Sessions for scripts: each gives an agent framework an `mcp_config` bound to it.

`mcp_config` names one MCP server (streamable HTTP on localhost, with its own
bearer token) that shares the script's manager and exposes only this
session's tools: the agent works in this session and cannot create sandboxes
or reach other sessions. Any agent framework that speaks MCP can use it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seer_mcp.api.config import SandboxConfig
from seer_mcp.api.library_env import variables_read_by
from seer_mcp.api.runtime import Runtime, ServedSession, default_runtime
from seer_mcp.api.sandbox import Sandbox, _Awaitable
from seer_mcp.api.workspace import Workspace
from seer_mcp.backends.local_extras import dotenv_here
from seer_mcp.harness.local_workdirs import LocalMcpConfig, close_local_workdir, open_local_workdir
from seer_mcp.tools.groups import TOOL_GROUPS
from seer_mcp.manager.scope import Scope
from seer_mcp.workspace import SKILLS_DIR

log = logging.getLogger(__name__)

__all__ = ["CLISession", "LocalNotebookSession", "LocalSession", "NotebookSession", "create_cli_session",
           "create_local_notebook_session", "create_local_session", "create_notebook_session"]

_NOTEBOOK_TOOLS = set(TOOL_GROUPS["cells"])
_CLI_TOOLS = {"execute_code", "wait_cell", "interrupt_kernel", "restart_kernel"}

_NOTEBOOK_GUIDE = (
    "You work in one Jupyter notebook session that is already open: execute_code runs a cell (leave "
    "session_id out), variables persist between cells, plots come back as images and errors with their "
    "traceback, and every cell is saved to the notebook. Use add_markdown for notes and conclusions. "
    "`import toolkit` gives interpretability helpers (help(toolkit.<name>) documents each).")
_CLI_GUIDE = ("You work in one bash shell session that is already open: execute_code runs a command line "
              "(leave session_id out); the working directory and variables carry over between commands.")


@dataclass
class _Session(_Awaitable):
    runtime: Runtime
    sandbox: Sandbox | None
    session_id: str
    name: str
    model_info_text: str = ""
    library_docs: str = ""
    _served: ServedSession | None = field(default=None, repr=False)
    _ended: bool = False

    @property
    def mcp_config(self) -> dict[str, Any]:
        """One MCP server entry, bound to this session (see the module docstring)."""
        assert self._served is not None
        return self._served.mcp_config(f"seer-{self.name}")

    def exec(self, code: str, timeout: float | None = None) -> str:
        """Runs code in the session (a cell, or a command for a shell); returns its text output.

        A cell that raises, times out or dies raises `SessionError` with what happened.
        """
        return self.runtime.run(self._exec(code, timeout))

    async def aexec(self, code: str, timeout: float | None = None) -> str:
        return await self.runtime.arun(self._exec(code, timeout))

    async def _exec(self, code: str, timeout: float | None) -> str:
        result, _ = await self.runtime.manager.execute(self.session_id, code, timeout)
        text = _text_of(result.outputs)
        if result.status != "ok":
            detail = f"{result.error.ename}: {result.error.evalue}" if result.error else result.message
            raise SessionError(f"{result.status}: {detail}\n{text}".rstrip())
        return text

    def terminate(self) -> None:
        if not self._ended:
            self.runtime.run(self._terminate())

    async def aterminate(self) -> None:
        if not self._ended:
            await self.runtime.arun(self._terminate())

    async def _terminate(self) -> None:
        self._ended = True
        if self._served is not None:
            await self.runtime.stop_serving(self._served)
        try:
            await self.runtime.manager.end_session(self.session_id)
        except Exception:  # the sandbox may be gone already; the session ends either way
            pass

    def __enter__(self) -> "_Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.terminate()


class SessionError(RuntimeError):
    """A session's code did not run to the end: an exception, a timeout, a dead kernel."""


@dataclass
class NotebookSession(_Session):
    notebook_path: str = ""  # inside the sandbox
    notebook_copy: str = ""  # on this machine, updated after every cell
    jupyter_url: str | None = None

    @property
    def workspace_path(self) -> str:
        return self.sandbox.workspace_path if self.sandbox else ""


@dataclass
class CLISession(_Session):
    transcript_copy: str = ""
    notebook_session: str | None = None  # a kernel in the same sandbox, for `exec` of Python

    def exec_shell(self, cmd: str, timeout: float | None = None) -> str:
        """Runs a command line in the session's shell (state carries over)."""
        return self.runtime.run(self._exec(cmd, timeout))

    def exec(self, code: str, timeout: float | None = None) -> str:
        """Runs Python code in the sandbox (a fresh interpreter)."""
        assert self.sandbox is not None
        return self.sandbox.exec_python(code, timeout or 600, check=True)


def _text_of(outputs: list[dict[str, Any]]) -> str:
    parts = []
    for output in outputs:
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("execute_result", "display_data"):
            text = output.get("data", {}).get("text/plain")
            if text:
                parts.append((text if isinstance(text, str) else "".join(text)) + "\n")
        elif output.get("output_type") == "error":
            parts.append(f"{output.get('ename')}: {output.get('evalue')}\n")
    return "".join(parts)


async def _open(runtime: Runtime, sandbox: Sandbox, workspace: Workspace | None, name: str, kind: str
                ) -> dict[str, Any]:
    prepared = await asyncio.to_thread(workspace.prepare) if workspace else None
    return await runtime.manager.start_session(sandbox.sandbox_id, name, kind, workspace=prepared,
                                               workspace_spec=workspace.spec() if workspace else None)


def _instructions(guide: str, info: dict[str, Any]) -> str:
    parts = [guide]
    if info.get("model_info"):
        parts.append("Models loaded in the kernel:\n" + info["model_info"])
    if info.get("library_docs"):
        parts.append("Libraries every kernel imports:\n" + info["library_docs"])
    return "\n\n".join(parts)


def create_notebook_session(sandbox: Sandbox, workspace: Workspace | None = None,
                            name: str = "notebook") -> NotebookSession:
    """A Jupyter notebook session in the sandbox, with the workspace's libraries imported."""
    runtime = sandbox.runtime
    return runtime.run(_notebook_session(runtime, sandbox, workspace, name))


async def acreate_notebook_session(sandbox: Sandbox, workspace: Workspace | None = None,
                                   name: str = "notebook") -> NotebookSession:
    return await sandbox.runtime.arun(_notebook_session(sandbox.runtime, sandbox, workspace, name))


async def _notebook_session(runtime: Runtime, sandbox: Sandbox, workspace: Workspace | None, name: str,
                            cls: type[NotebookSession] | None = None, **extra: Any) -> NotebookSession:
    await sandbox._start()
    info = await _open(runtime, sandbox, workspace, name, "notebook")
    served = await runtime.serve(Scope(session_id=info["session_id"], sandbox_id=sandbox.sandbox_id),
                                 _NOTEBOOK_TOOLS, _instructions(_NOTEBOOK_GUIDE, info))
    return (cls or NotebookSession)(
        runtime, sandbox, info["session_id"], info["name"], info.get("model_info", ""), info.get("library_docs", ""),
        served, notebook_path=info["notebook_path"], notebook_copy=info["notebook_copy"],
        jupyter_url=sandbox.jupyter_url, **extra)


def create_cli_session(sandbox: Sandbox | Workspace, workspace: Workspace | str | Path | None = None,
                       name: str = "cli") -> CLISession | LocalSession:
    """A persistent shell in the sandbox; its mcp_config runs commands there.

    Seer's Core Concepts also write `create_cli_session(workspace, workspace_dir)`: an agent that works
    with its own shell in a folder on this machine. Given a `Workspace` first, that is what this makes
    (`create_local_session(workspace, workspace_dir, name)`).
    """
    if isinstance(sandbox, Workspace):
        folder = workspace if isinstance(workspace, (str, Path)) else "./workspace"
        return create_local_session(sandbox, folder, name)
    if workspace is not None and not isinstance(workspace, Workspace):
        raise TypeError(f"create_cli_session(sandbox, workspace): workspace must be a Workspace, not {workspace!r}")
    runtime = sandbox.runtime
    return runtime.run(_cli_session(runtime, sandbox, workspace, name))


async def _cli_session(runtime: Runtime, sandbox: Sandbox, workspace: Workspace | None, name: str) -> CLISession:
    await sandbox._start()
    info = await _open(runtime, sandbox, workspace, name, "cli")
    guide = _CLI_GUIDE + (f"\n\nLibraries in the workspace's libraries/ folder:\n{workspace.get_library_docs()}"
                          if workspace and workspace.libraries else "")
    served = await runtime.serve(Scope(session_id=info["session_id"], sandbox_id=sandbox.sandbox_id),
                                 _CLI_TOOLS, guide)
    return CLISession(runtime, sandbox, info["session_id"], info["name"], "", "", served,
                      transcript_copy=info["transcript_copy"])


def create_local_notebook_session(workspace: Workspace | None = None, name: str = "notebook",
                                  output_dir: str | Path = "./outputs", python_packages: list[str] | None = None,
                                  secrets: list[str] | None = None, env: dict[str, str] | None = None,
                                  ) -> NotebookSession:
    """A notebook on this machine (a local sandbox, no account); the notebook is copied into `output_dir`.

    `python_packages` are pip-installed for this sandbox only (Seer's Kimi example needs `openai`);
    `secrets` and `env` reach its kernel's environment as a `SandboxConfig`'s do. With `secrets` left out,
    the environment variables the workspace's libraries read by name (`os.environ.get("OPENROUTER_API_KEY")`)
    and this process has are passed, as Seer's local notebook, run in the caller's environment, had them;
    nothing else of this environment is. `secrets=[]` passes none.
    """
    runtime = default_runtime()
    if secrets is None:
        secrets = _variables_for(workspace)
    sandbox = Sandbox(SandboxConfig(backend="local", python_packages=python_packages or [], secrets=secrets,
                                    env=env or {}), runtime)
    return runtime.run(_local_notebook(runtime, sandbox, workspace, name, Path(output_dir)))


def _variables_for(workspace: Workspace | None) -> list[str]:
    """The variables the workspace's libraries read that this process (or ./.env) has; the rest stay unset, as
    they would have been in Seer."""
    wanted = variables_read_by(workspace.libraries) if workspace is not None else []
    if not wanted:
        return []
    dotenv = dotenv_here()
    present = [name for name in wanted if os.environ.get(name) or dotenv.get(name)]
    if present:
        log.info("the local notebook gets %s, which its libraries read (secrets=[] passes none)", ", ".join(present))
    return present


async def _local_notebook(runtime: Runtime, sandbox: Sandbox, workspace: Workspace | None, name: str,
                          output_dir: Path) -> NotebookSession:
    try:
        local = await _notebook_session(runtime, sandbox, workspace, name, LocalNotebookSession,
                                        output_dir=output_dir.expanduser().resolve())
    except BaseException:
        if sandbox.info is not None:
            await sandbox._terminate()
        raise
    assert isinstance(local, LocalNotebookSession)
    local.notebook_path_local = str(local.output_dir / Path(local.notebook_copy).name)
    local._copy_notebook()
    return local


@dataclass
class LocalNotebookSession(NotebookSession):
    output_dir: Path = Path("outputs")
    notebook_path_local: str = ""

    @property
    def notebook_file(self) -> str:
        """The notebook in `output_dir`, brought up to date by `exec` and `terminate`."""
        return self.notebook_path_local

    def _copy_notebook(self) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if Path(self.notebook_copy).is_file():
            shutil.copyfile(self.notebook_copy, self.notebook_path_local)

    def exec(self, code: str, timeout: float | None = None) -> str:
        try:
            return super().exec(code, timeout)
        finally:
            self._copy_notebook()

    def terminate(self) -> None:
        self._copy_notebook()
        super().terminate()
        if self.sandbox is not None:
            self.sandbox.terminate()


@dataclass
class LocalSession(_Awaitable):
    """The agent works on this machine, in `workspace_dir`; it reaches sandboxes through library clients.

    `mcp_config` is empty, as Seer's is: `run_agent(prompt, mcp_config={})` (or this session's `mcp_config`)
    gives a "claude" agent Claude Code's own tools, working in `workspace_dir`, until `terminate()`.
    """

    name: str
    workspace_dir: Path
    mcp_config: dict[str, Any] = field(default_factory=dict)
    library_docs: str = ""

    def __post_init__(self) -> None:
        self.mcp_config = LocalMcpConfig(self.workspace_dir)
        open_local_workdir(self.workspace_dir)

    def exec(self, code: str, timeout: float = 600) -> str:
        """Runs Python in `workspace_dir` with its libraries importable; returns stdout and stderr."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(self.workspace_dir),
                                                                          os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([sys.executable, "-c", code], cwd=self.workspace_dir, env=env, capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode != 0:
            raise SessionError(f"exit {done.returncode}:\n{done.stdout}{done.stderr}".rstrip())
        return done.stdout + done.stderr

    def terminate(self) -> None:
        """Ends the session: a later `run_agent(prompt, mcp_config={})` no longer works here. Its files stay."""
        close_local_workdir(self.workspace_dir)


def create_local_session(workspace: Workspace | None = None, workspace_dir: str | Path = "./workspace",
                         name: str = "local") -> LocalSession:
    """Writes the workspace's libraries (served interfaces' clients too) and files into `workspace_dir`."""
    folder = Path(workspace_dir).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    docs = ""
    if workspace is not None:
        prepared = workspace.prepare()
        skills = {(SKILLS_DIR, skill["name"]) for skill in prepared.skills}
        for upload in prepared.uploads:
            relative = upload.sandbox_path.removeprefix("libraries/")  # importable from the folder itself
            targets = [folder / relative]
            if tuple(Path(relative).parts[:2]) in skills:
                # also where Claude Code, this session's agent, discovers skills (where Seer put them)
                targets.append(folder / ".claude" / relative)
            for target in targets:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(upload.data)
        docs = prepared.docs
        if workspace.custom_init_code:
            (folder / "init_workspace.py").write_text(workspace.custom_init_code)
    return LocalSession(name, folder, library_docs=docs)
