"""The local backend: a sandbox is a directory and an agent subprocess.

The agent runs in a session (process group) of its own, listens on a Unix
socket with mode 0600, and its kernels use IPC transport. Stopping it kills
every process that belongs to the sandbox: the agent's process tree, and any
process whose command line names the sandbox's directories (kernels and
commands that outlived a dead agent), so nothing survives a terminate.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import secrets as secrets_module
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from seer_mcp.agent.memory_guard import remove_guard_cgroup
from seer_mcp.backends.base import Backend, BackendCapabilities, StartedSandbox, StartRequest
from seer_mcp.backends.local_extras import check_host_fits, clone_repos, secret_values
from seer_mcp.backends.local_isolation import PipPrefix, base_env, hub_repo_of, sandbox_plan
from seer_mcp.errors import InvalidRequest, SandboxStartError
from seer_mcp.isolation.mode import Isolation, choose
from seer_mcp.isolation.plan import IsolationPlan, Mount
from seer_mcp.models import ModelCache, ResolvedModel, build_hidden_copy
from seer_mcp.progress import StepProgress, no_progress
from seer_mcp.settings import Settings
from seer_mcp.wire import INTERFACE_SOCKET, KERNEL_SOCKETS_DIR

log = logging.getLogger(__name__)

# AF_UNIX paths are capped at 107 bytes; kernel IPC sockets append ~20 more.
_MAX_RUNTIME_PATH = 80
_TERM_GRACE_S = 3.0


def missing_requirements(requirements: list[str]) -> list[str]:
    """The requirements this interpreter does not already satisfy."""
    from packaging.requirements import InvalidRequirement, Requirement

    missing = []
    for text in requirements:
        try:
            req = Requirement(text)
            installed = importlib.metadata.version(req.name)
        except (InvalidRequirement, importlib.metadata.PackageNotFoundError):
            missing.append(text)  # paths, URLs and absent packages go to pip
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            missing.append(text)
    return missing


def hub_cache_env(models: list[ResolvedModel]) -> dict[str, str]:
    """HF_HUB_CACHE for kernels: the Hub cache the first plain model came from (`<cache>/models--*/snapshots/*`)."""
    for model in models:
        if model.spec.hidden:
            continue
        for path in filter(None, (model.path, model.base_path)):
            if (repo := hub_repo_of(Path(path))) is not None:
                return {"HF_HUB_CACHE": str(repo.parent)}
    return {}


def sandbox_env(request: StartRequest, site_dir: Path, passthrough: Sequence[str] = ()) -> dict[str, str]:
    """The environment of the agent, its kernels and its commands: an allowlist, then the spec's `env`."""
    env = base_env(site_dir.parent, site_dir, list(passthrough))
    env["SEER_SANDBOX_ID"] = request.sandbox_id  # finds strays of an unisolated sandbox at terminate
    env.update(request.spec.env)
    return env


class LocalBackend(Backend):
    name = "local"
    capabilities = BackendCapabilities(on_server_host=True, snapshots=True, network_off=True)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        # Agents this process spawned: asyncio reaps them, so we must wait through it too.
        self._children: dict[int, asyncio.subprocess.Process] = {}

    async def start(self, request: StartRequest) -> StartedSandbox:
        if request.spec.gpu:
            raise InvalidRequest(
                f"the local backend cannot provide a {request.spec.gpu} GPU: kernels see this machine's "
                "devices as they are. Leave gpu unset, or use backend='modal' for a GPU sandbox.")
        check_host_fits(request.spec)
        isolation = self._isolation(request)
        secrets = secret_values(request.spec.secrets, self.settings.local_secrets)
        root = self.settings.sandboxes_dir / request.sandbox_id
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o700)
        runtime = root / "run"
        if len(str(runtime)) > _MAX_RUNTIME_PATH:
            runtime = Path(tempfile.mkdtemp(prefix=f"seer-{request.sandbox_id}-"))
        site_dir = root / "site-packages"
        site_dir.mkdir(exist_ok=True)
        handle: dict[str, Any] = {"sandbox_id": request.sandbox_id, "root": str(root), "runtime": str(runtime),
                                  "socket": str(runtime / "agent.sock"), "isolation": isolation.level}
        if isolation.warning:
            handle["warning"] = isolation.warning
            log.warning("sandbox %s: %s", request.sandbox_id, isolation.warning)
        runtime.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        try:
            models = await self._resolve_models(request, root / "models")
            plan = None
            if isolation.level == "namespaces":
                plan = sandbox_plan(bwrap=self.settings.bwrap, root=root, runtime=runtime, models=models,
                                    network=request.spec.network)
            if request.restore is not None:
                await request.progress(0, None, "copying the snapshot's files into the sandbox")
                await asyncio.to_thread(_copy_saved_state, Path(request.restore["path"]), root)
            PipPrefix.of(site_dir).make()
            await self._install_packages(request, site_dir, root / "logs", plan)
            if request.spec.repos:
                await request.progress(0, None, f"cloning {len(request.spec.repos)} repo(s) into the workspace")
                (root / "workspace").mkdir(exist_ok=True)
                (root / "logs").mkdir(exist_ok=True)
                await clone_repos(request.spec.repos, root / "workspace",
                                  {**_setup_env(self._env(request, site_dir)), "PIP_TARGET": str(site_dir)},
                                  root / "logs" / "repos.log", _setup_wrapper(plan, _local_repos(request)))
            if request.spec.debug:
                handle["debug_port"] = _free_port()
                handle["debug_token"] = secrets_module.token_urlsafe(24)
                handle["debug_url"] = f"http://127.0.0.1:{handle['debug_port']}/lab?token={handle['debug_token']}"
            # An isolated sandbox sees only its plain models' Hub repos, so the cache they sit in can be its own
            # cache: `from_pretrained("org/name")` then finds a configured model, as in Seer's sandboxes.
            cache_env = hub_cache_env(models) if plan is not None else {}
            handle["pid"] = await self._spawn_agent(request, root, runtime, site_dir, {**cache_env, **secrets},
                                                    handle, plan)
        except BaseException:
            await self.stop(handle)
            raise
        return StartedSandbox(
            address=self.address(handle, request.token),
            workspace_path=str(root / "workspace"),
            handle=handle,
            agent_mirrors_notebooks=True,
            models=[m.record() for m in models],
        )

    def _isolation(self, request: StartRequest) -> Isolation:
        try:
            isolation = choose(self.settings.isolation, self.settings.bwrap)
        except RuntimeError as exc:
            raise SandboxStartError(f"{exc}; or set SEER_ISOLATION=auto to run without isolation") from None
        if isolation.level == "none":
            hidden = [m.var_name for m in request.spec.models if m.hidden]
            if hidden and not self.settings.allow_hidden_without_isolation:
                raise InvalidRequest(
                    f"hidden models ({', '.join(hidden)}) need an isolated sandbox, and this one would not be "
                    f"({isolation.warning or 'SEER_ISOLATION=none'}): without namespaces its code can find the "
                    "models' names. Install bubblewrap, or set SEER_ALLOW_HIDDEN_WITHOUT_ISOLATION=1 to accept that.")
            if not request.spec.network:
                raise InvalidRequest("network=false needs an isolated sandbox (bubblewrap), and this one would not "
                                     f"be ({isolation.warning or 'SEER_ISOLATION=none'}); install bubblewrap or "
                                     "leave network on")
        if request.spec.debug and not request.spec.network:
            raise InvalidRequest("debug=true serves JupyterLab on this machine's network, which network=false "
                                 "takes away; leave one of them off")
        return isolation

    def _env(self, request: StartRequest, site_dir: Path) -> dict[str, str]:
        return sandbox_env(request, site_dir, self.settings.sandbox_env_passthrough)

    async def _resolve_models(self, request: StartRequest, models_dir: Path) -> list[ResolvedModel]:
        """Fetch each model into the host's cache; hidden ones get an opaque folder in the sandbox."""
        cache = ModelCache(self.settings.state_dir / "model-markers")
        resolved = []
        for index, spec in enumerate(request.spec.models):
            path = await cache.fetch(spec.name, spec.revision, request.progress)
            base = await cache.fetch(spec.base_model, None, request.progress) if spec.is_peft and spec.base_model else None
            if not spec.hidden:
                resolved.append(ResolvedModel(spec, str(path), str(base) if base else None))
                continue
            opaque = models_dir / f"model_{index}"
            opaque_base = models_dir / f"model_{index}_base" if base else None
            if base is not None and opaque_base is not None:
                await asyncio.to_thread(build_hidden_copy, base, opaque_base)
            rewrite = {"base_model_name_or_path": str(opaque_base)} if opaque_base else None
            await asyncio.to_thread(build_hidden_copy, path, opaque, rewrite)
            resolved.append(ResolvedModel(spec, str(opaque), str(opaque_base) if opaque_base else None))
        return resolved

    async def _install_packages(self, request: StartRequest, site_dir: Path, logs: Path,
                                plan: IsolationPlan | None) -> None:
        missing = missing_requirements(request.spec.python_packages)
        if not missing:
            return
        await request.progress(0, None, f"installing {', '.join(missing)} for this sandbox")
        logs.mkdir(exist_ok=True)
        # pip runs packages' build code: inside the sandbox, never on the host. A local folder it is
        # asked to install is copied into the sandbox first (builds write into their source folder).
        requirements = missing
        if plan is not None:
            requirements = await asyncio.to_thread(_copy_local_requirements, missing, site_dir.parent / "home")
        wrapper = _setup_wrapper(plan)
        proc = await asyncio.create_subprocess_exec(
            *wrapper, sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-input", "--target", str(site_dir), *requirements,
            env=_setup_env(self._env(request, site_dir)), cwd=site_dir.parent,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await proc.communicate()
        (logs / "pip.log").write_bytes(output)
        if proc.returncode != 0:
            tail = output.decode(errors="replace").strip().splitlines()[-15:]
            raise SandboxStartError(
                f"installing python_packages {missing} failed (pip exit {proc.returncode}):\n"
                + "\n".join(tail) + "\nCheck the package names and versions, then create the sandbox again.")

    async def _spawn_agent(self, request: StartRequest, root: Path, runtime: Path, site_dir: Path,
                           secrets: dict[str, str], handle: dict[str, Any], plan: IsolationPlan | None) -> int:
        env = {**self._env(request, site_dir), **secrets}
        debug = ["--debug-port", str(handle["debug_port"])] if handle.get("debug_port") else []
        if debug:
            env["SEER_DEBUG_TOKEN"] = handle["debug_token"]
        isolation = []
        if plan is not None:
            (runtime / "isolation.json").write_text(plan.model_dump_json(indent=1))
            handle["interface_socket"] = str(runtime / KERNEL_SOCKETS_DIR / INTERFACE_SOCKET)
            isolation = ["--isolation", str(runtime / "isolation.json"), "--interface-socket",
                         handle["interface_socket"]]
        token_read, token_write = os.pipe()  # the token is in no process's environment or command line
        os.write(token_write, request.token.encode())
        os.close(token_write)
        read_fd, write_fd = os.pipe()
        (root / "logs").mkdir(exist_ok=True)
        with open(root / "logs" / "agent.log", "ab") as agent_log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "seer_mcp.agent", "--root", str(root), "--runtime-dir", str(runtime),
                "--socket", str(runtime / "agent.sock"), "--mirror-dir", str(request.outputs_dir),
                "--ready-fd", str(write_fd), "--token-fd", str(token_read), *isolation, *debug,
                *(["--memory-limit", str(request.spec.memory * 2**20)] if request.spec.memory else []),
                *request.agent_limit_args(),
                env=env, cwd=root, pass_fds=(write_fd, token_read), start_new_session=True,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=agent_log,
            )
        os.close(write_fd)
        os.close(token_read)
        ready = asyncio.create_task(_read_line(read_fd))
        exited = asyncio.create_task(proc.wait())
        done, _ = await asyncio.wait({ready, exited}, timeout=self.settings.sandbox_start_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        exited.cancel()
        if ready in done and ready.result():
            self._children[proc.pid] = proc
            return proc.pid
        log_tail = _tail(root / "logs" / "agent.log")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if not done:
            raise SandboxStartError(
                f"the sandbox agent did not come up within {self.settings.sandbox_start_timeout:g}s "
                f"(SEER_SANDBOX_START_TIMEOUT); its log ends with:\n{log_tail}")
        raise SandboxStartError(f"the sandbox agent exited while starting; its log ends with:\n{log_tail}")

    async def stop(self, handle: dict[str, Any]) -> None:
        victims = _sandbox_processes(handle)
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        child = self._children.pop(handle.get("pid", -1), None)
        others = [p for p in victims if child is None or p.pid != child.pid]
        waits = [asyncio.to_thread(psutil.wait_procs, others, _TERM_GRACE_S)]
        if child is not None:
            waits.append(_wait_child(child, _TERM_GRACE_S))
        results = await asyncio.gather(*waits)
        alive = list(results[0][1])
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        if alive:
            await asyncio.to_thread(psutil.wait_procs, alive, _TERM_GRACE_S)
        if handle.get("pid"):
            await asyncio.to_thread(remove_guard_cgroup, handle["pid"])  # left behind if the agent was killed
        runtime = handle.get("runtime")
        if runtime and not runtime.startswith(handle.get("root", "\0")):
            shutil.rmtree(runtime, ignore_errors=True)

    async def snapshot(self, handle: dict[str, Any], snapshot_id: str, progress: StepProgress = no_progress
                       ) -> dict[str, Any]:
        """A copy of the sandbox's workspace (notebooks included) and its installed packages."""
        dest = self.settings.state_dir / "snapshots" / snapshot_id
        await progress(0, None, "copying the sandbox's workspace")
        try:
            size = await asyncio.to_thread(_copy_saved_state, Path(handle["root"]), dest)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        return {"path": str(dest), "size_bytes": size}

    async def delete_snapshot(self, data: dict[str, Any]) -> None:
        if data.get("path"):
            await asyncio.to_thread(shutil.rmtree, data["path"], True)

    async def is_alive(self, handle: dict[str, Any]) -> bool:
        agent = _agent_process(handle)
        return agent is not None and Path(handle.get("socket", "")).exists()


def _setup_wrapper(plan: IsolationPlan | None, extra_ro: Sequence[str] = ()) -> list[str]:
    """The command prefix that runs a set-up step (pip, git, a repo's install) inside the sandbox's view,
    with the network on whatever the sandbox's own setting: it fetches what the spec asks for."""
    if plan is None:
        return []
    step = plan.model_copy(update={"network": True,
                                   "mounts": plan.mounts + [Mount(target=p) for p in extra_ro]})
    return [*step.argv(), "--"]


def _copy_local_requirements(requirements: list[str], home: Path) -> list[str]:
    """Each requirement that is a folder on this machine, as a copy in the sandbox's home."""
    copied = []
    for index, text in enumerate(requirements):
        source = Path(text).expanduser()
        if source.is_dir():
            dest = home / ".seer-packages" / f"{index}-{source.name}"
            shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
            copied.append(str(dest))
        else:
            copied.append(text)
    return copied


def _local_repos(request: StartRequest) -> list[str]:
    """Repos cloned from this machine's disk (file:// or a path): the clone step sees them, read-only."""
    paths = []
    for repo in request.spec.repos:
        url = repo.clone_url
        path = url[len("file://"):] if url.startswith("file://") else url
        if path.startswith("/") and os.path.exists(path):
            paths.append(path)
    return paths


def _setup_env(sandbox: dict[str, str]) -> dict[str, str]:
    """A set-up step's environment: the sandbox's, with this machine's PIP_* settings (how pip reaches its
    indexes, which may hold credentials the sandbox's own commands never get). Set-up pip installs with
    `--target`, which pip will not combine with the sandbox's PIP_PREFIX."""
    env = {k: v for k, v in sandbox.items() if k != "PIP_PREFIX"}
    env.update({k: v for k, v in os.environ.items()
                if k.startswith("PIP_") and k not in ("PIP_TARGET", "PIP_USER", "PIP_PREFIX")})
    return env


_SAVED_DIRS = ("workspace", "site-packages")  # models come back from the cache; logs and sockets don't matter


def _copy_saved_state(source: Path, dest: Path) -> int:
    """Copies what a snapshot keeps from one sandbox root to another; returns the bytes copied.

    Real copies, not hard links: a file changed in place later must not change the snapshot.
    Notebooks are replaced by rename when saved, so a copy never catches one half-written.
    """
    total = 0
    for name in _SAVED_DIRS:
        if (source / name).is_dir():
            shutil.copytree(source / name, dest / name, symlinks=True, dirs_exist_ok=True)
            total += sum(f.stat().st_size for f in (dest / name).rglob("*") if f.is_file() and not f.is_symlink())
    return total


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _agent_process(handle: dict[str, Any]) -> psutil.Process | None:
    pid, root = handle.get("pid"), handle.get("root")
    if not pid or not root:
        return None
    try:
        proc = psutil.Process(pid)
        if root in proc.cmdline() and proc.status() != psutil.STATUS_ZOMBIE:
            return proc
    except psutil.Error:
        pass
    return None


def _belongs(proc: psutil.Process, markers: list[str], sandbox_id: str | None) -> bool:
    cmdline = proc.info.get("cmdline") or []
    if any(marker in arg for arg in cmdline for marker in markers):
        return True
    if sandbox_id is None:
        return False
    try:  # background jobs re-parented away from the agent still carry the sandbox's environment
        return proc.environ().get("SEER_SANDBOX_ID") == sandbox_id
    except psutil.Error:
        return False


def _sandbox_processes(handle: dict[str, Any]) -> list[psutil.Process]:
    """The agent, its descendants, and strays that name the sandbox's directories or carry its id."""
    found: dict[int, psutil.Process] = {}
    agent = _agent_process(handle)
    if agent is not None:
        found[agent.pid] = agent
        with contextlib.suppress(psutil.Error):
            for child in agent.children(recursive=True):
                found[child.pid] = child
    markers = [m for m in (handle.get("root"), handle.get("runtime")) if m]
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid != me and _belongs(proc, markers, handle.get("sandbox_id")):
            found[proc.pid] = proc
            with contextlib.suppress(psutil.Error):
                for child in proc.children(recursive=True):
                    found[child.pid] = child
    return list(found.values())


async def _wait_child(proc: asyncio.subprocess.Process, grace: float) -> None:
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def _read_line(fd: int) -> str:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb"))
    try:
        return (await reader.readline()).decode().strip()
    finally:
        transport.close()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
