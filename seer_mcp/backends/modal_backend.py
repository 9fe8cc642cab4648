"""The Modal backend: a sandbox is a Modal Sandbox whose entrypoint is the sandbox agent.

The image comes from the spec (Debian slim or a Dockerfile, apt and pip
packages, cloned repos, and seer-mcp itself so the agent runs inside). Models
live in one Modal volume each, filled once by a short download job and
mounted read-only. The agent listens on an encrypted port; the server reaches
it through Modal's TLS tunnel with the sandbox's token, which travels as a
Modal secret, never on a command line. Every `modal` error is translated here
into a `SandboxStartError` or `InvalidRequest` that says what to do.

The SDK is reached through `load_sdk()` only, so tests can hand the backend a
fake of the few calls it makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import importlib.metadata
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from seer_mcp.backends.base import AgentAddress, Backend, BackendCapabilities, StartedSandbox, StartRequest
from seer_mcp.errors import InvalidRequest, SandboxStartError, SandboxUnavailable
from seer_mcp.models import ResolvedModel
from seer_mcp.progress import StepProgress, no_progress
from seer_mcp.settings import Settings
from seer_mcp.spec import SandboxSpec

log = logging.getLogger(__name__)

AGENT_PORT = 8000
DEBUG_PORT = 8888
_FETCH_TIMEOUT_S = 4 * 3600
_HEALTH_POLL_S = 0.5  # only while the agent comes up: there is nothing to wait on but its port


def load_sdk() -> Any:
    """The `modal` module (tests replace this function to hand in a fake)."""
    try:
        return importlib.import_module("modal")
    except ImportError as exc:
        raise SandboxStartError("the Modal backend needs the `modal` package: pip install 'modal>=1.0', then "
                                "run `modal token new`") from exc


def modal_credentials_problem() -> str | None:
    """Why Modal calls would fail for want of credentials, or None when some are configured."""
    if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
        return None
    config = Path(os.environ.get("MODAL_CONFIG_PATH", Path.home() / ".modal.toml"))
    if config.is_file() and "token_id" in config.read_text(errors="replace"):
        return None
    return ("no Modal credentials: run `modal token new` (or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET) and "
            "create the sandbox again")


def seer_requirements() -> list[str]:
    """seer-mcp's own dependencies, for the image: the agent and the toolkit run inside."""
    try:
        requires = importlib.metadata.requires("seer-mcp") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    return [r.split(";")[0].strip() for r in requires if "extra ==" not in r]


class _Paths:
    """Where things are inside a container: `root` is "/" on Modal (a template in tests)."""

    def __init__(self, template: str, sandbox_id: str) -> None:
        self.root = template.format(sandbox_id=sandbox_id).rstrip("/")

    @property
    def agent(self) -> str:
        return f"{self.root}/seer"

    @property
    def workspace(self) -> str:
        return f"{self.root}/workspace"

    def model(self, folder: str) -> str:
        return f"{self.root}/models/{folder}"


def _volume_name(kind: str, key: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", key.lower()).strip("-")[:40]
    return f"seer-{kind}-{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


class ModalBackend(Backend):
    name = "modal"
    capabilities = BackendCapabilities(snapshots=True, gpus=True)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._sdk: Any = None

    @property
    def sdk(self) -> Any:
        if self._sdk is None:
            self._sdk = load_sdk()
        return self._sdk

    # ----- errors --------------------------------------------------------------

    @contextlib.contextmanager
    def _translated(self, doing: str, gpu: str | None = None) -> Iterator[None]:
        """Modal's exceptions, as ours: what happened and what to do."""
        errors = self.sdk.exception
        try:
            yield
        except errors.AuthError as exc:
            raise SandboxStartError(f"Modal rejected the credentials while {doing} ({exc}): run `modal token new` "
                                    "and try again") from exc
        except errors.ImageBuildError as exc:
            raise SandboxStartError(f"building the sandbox's image failed while {doing}: {exc}. Check "
                                    "system_packages, python_packages and repos (the build log is in Modal's "
                                    "dashboard), then create the sandbox again") from exc
        except errors.ResourceExhaustedError as exc:
            raise SandboxStartError(f"Modal has no capacity or quota for {gpu or 'this sandbox'} right now ({exc}): "
                                    "try another GPU type, fewer GPUs, or again later") from exc
        except errors.NotFoundError as exc:
            raise SandboxStartError(f"Modal could not find something while {doing}: {exc}. A secret must exist "
                                    "on Modal (`modal secret create NAME KEY=value`) or be set in this server's "
                                    "environment or .env") from exc
        except (errors.SandboxTimeoutError, errors.SandboxTerminatedError) as exc:
            raise SandboxUnavailable(f"the Modal sandbox timed out or was terminated while {doing} ({exc}); "
                                     "create a new one (raise its timeout for long work)") from exc
        except errors.InvalidError as exc:
            raise InvalidRequest(f"Modal refused the request while {doing}: {exc}") from exc
        except errors.Error as exc:
            raise SandboxStartError(f"Modal failed while {doing}: {type(exc).__name__}: {exc}") from exc

    # ----- the image -----------------------------------------------------------

    def build_image(self, spec: SandboxSpec, paths: _Paths) -> Any:
        """The image the spec asks for, built lazily by Modal when the sandbox is created."""
        modal = self.sdk
        python = spec.python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
        dockerfiles = [repo.dockerfile for repo in spec.repos if repo.dockerfile]
        if len(dockerfiles) > 1:
            raise InvalidRequest("only one repo may name a dockerfile: it becomes the image's base")
        if dockerfiles:
            image = modal.Image.from_dockerfile(dockerfiles[0], add_python=python)
        else:
            image = modal.Image.debian_slim(python_version=python)
        apt = list(spec.system_packages) + (["git"] if spec.repos and "git" not in spec.system_packages else [])
        if apt:
            image = image.apt_install(*apt)
        requirements = seer_requirements() + (["jupyterlab>=4"] if spec.debug else [])
        if requirements:
            image = image.pip_install(*requirements)
        if spec.python_packages:
            image = image.pip_install(*spec.python_packages)
        for repo in spec.repos:
            target = f"{paths.workspace}/{repo.folder}"
            commands = [f"git clone --depth 1 {repo.clone_url} {target}"]
            if repo.install:
                commands.append(f"cd {target} && {repo.install}")
            image = image.run_commands(*commands)
        # Mounted at start rather than baked in: a new seer-mcp version needs no rebuild.
        return image.add_local_python_source("seer_mcp", "toolkit", copy=False)

    def _secrets(self, spec: SandboxSpec) -> list[Any]:
        """Each named secret: from this server's environment or .env when set there, else Modal's own."""
        modal = self.sdk
        local = _dotenv_values()
        found = []
        for name in spec.secrets:
            value = os.environ.get(name) or local.get(name)
            found.append(modal.Secret.from_dict({name: value}) if value else modal.Secret.from_name(name))
        return found

    # ----- models --------------------------------------------------------------

    async def _models(self, request: StartRequest, app: Any, image: Any, paths: _Paths
                      ) -> tuple[list[ResolvedModel], dict[str, Any]]:
        """Fills a volume per model (once; later runs find it complete) and says where each is mounted."""
        resolved, volumes = [], {}
        for index, spec in enumerate(request.spec.models):
            folder = f"model_{index}" if spec.hidden else re.sub(r"[^A-Za-z0-9_.-]+", "--", spec.name)[:80]
            base_path = None
            if spec.is_peft and spec.base_model:
                base_folder = f"{folder}_base" if spec.hidden else re.sub(r"[^A-Za-z0-9_.-]+", "--", spec.base_model)
                base_path = paths.model(base_folder)
                volumes[base_path] = await self._fill_volume(request, app, image, spec.base_model, None, base_path,
                                                             spec.hidden, None)
            path = paths.model(folder)
            volumes[path] = await self._fill_volume(request, app, image, spec.name, spec.revision, path,
                                                    spec.hidden, base_path)
            resolved.append(ResolvedModel(spec, path, base_path))
        return resolved, volumes

    async def _fill_volume(self, request: StartRequest, app: Any, image: Any, name: str, revision: str | None,
                           mount: str, hidden: bool, base_path: str | None) -> Any:
        modal = self.sdk
        local = Path(name).expanduser()
        key = f"{local.resolve()}" if local.is_dir() else f"{name}@{revision or 'main'}"
        shown = "<hidden model>" if hidden else name
        with self._translated(f"opening the volume for {shown}"):
            volume = modal.Volume.from_name(_volume_name("local" if local.is_dir() else "model", key),
                                            create_if_missing=True)
        if local.is_dir():
            await request.progress(0, None, f"uploading {shown} to its Modal volume")
            with self._translated(f"uploading {shown}"):
                async with volume.batch_upload.aio(force=True) as batch:
                    batch.put_directory(str(local), "/")
        await request.progress(0, None, f"fetching {shown} into its Modal volume (cached after the first time)")
        if local.is_dir():  # uploaded above; the job only marks the volume complete
            command = ["python", "-c", "import pathlib,sys; pathlib.Path(sys.argv[1], '.seer-complete').touch()",
                       mount]
        else:
            command = ["python", "-m", "seer_mcp.backends.modal_fetch", "--repo", name, "--dest", mount]
            if revision:
                command += ["--revision", revision]
            if hidden:
                command += ["--hide", mount] + (["--hidden-base", base_path] if base_path else [])
        token = os.environ.get("HF_TOKEN") or _dotenv_values().get("HF_TOKEN")
        with self._translated(f"fetching {shown}"):
            job = await modal.Sandbox.create.aio(
                *command, app=app, image=image, volumes={mount: volume}, timeout=_FETCH_TIMEOUT_S,
                secrets=[modal.Secret.from_dict({"HF_TOKEN": token})] if token else [])
            await job.wait.aio(raise_on_termination=False)
            code = job.returncode
            errors = await job.stderr.read.aio() if code else ""
        if code:
            detail = "\n".join(line for line in errors.strip().splitlines()[-8:] if name not in line or not hidden)
            raise SandboxStartError(f"fetching {shown} failed (exit {code}): {detail}")
        if hidden and local.is_dir():
            # A local folder was uploaded as it is: its names are scrubbed by the same job, run for that.
            await self._scrub_uploaded(app, image, volume, mount, base_path)
        return volume.read_only()

    async def _scrub_uploaded(self, app: Any, image: Any, volume: Any, mount: str, base_path: str | None) -> None:
        modal = self.sdk
        code = ("import sys; from pathlib import Path; from seer_mcp.backends.modal_fetch import hide_names; "
                "hide_names(Path(sys.argv[1]), sys.argv[1], sys.argv[2] or None)")
        with self._translated("hiding the model's names"):
            job = await modal.Sandbox.create.aio("python", "-c", code, mount, base_path or "", app=app, image=image,
                                                 volumes={mount: volume}, timeout=600)
            await job.wait.aio(raise_on_termination=False)
        if job.returncode:
            raise SandboxStartError("hiding the model's names in its volume failed; see the Modal dashboard")

    # ----- lifecycle -----------------------------------------------------------

    async def start(self, request: StartRequest) -> StartedSandbox:
        if self.sdk.__name__ == "modal" and (problem := modal_credentials_problem()):
            raise SandboxStartError(problem)
        spec = request.spec
        if not spec.network:
            raise InvalidRequest("network=false is not available on Modal yet: the server reaches a Modal sandbox "
                                 "through its network tunnel. Use the local backend for a sandbox with no network.")
        paths = _Paths(self.settings.modal_root, request.sandbox_id)
        modal = self.sdk
        with self._translated("looking up the Modal app"):
            app = await modal.App.lookup.aio(self.settings.modal_app, create_if_missing=True)
        if request.restore is not None:
            await request.progress(0, None, "loading the snapshot's image")
            with self._translated("loading the snapshot's image"):
                image = await modal.Image.from_id.aio(request.restore["image_id"])
            image = image.add_local_python_source("seer_mcp", "toolkit", copy=False)
        else:
            image = self.build_image(spec, paths)
        models, volumes = await self._models(request, app, image, paths)
        debug_token = secrets.token_urlsafe(24) if spec.debug else None
        command = ["python", "-m", "seer_mcp.agent", "--root", paths.agent, "--workspace", paths.workspace,
                   "--port", str(AGENT_PORT), "--host", "0.0.0.0", *request.agent_limit_args()]
        hidden = {"SEER_AGENT_TOKEN": request.token}
        if debug_token:
            command += ["--debug-port", str(DEBUG_PORT)]
            hidden["SEER_DEBUG_TOKEN"] = debug_token
        gpu = f"{spec.gpu}:{spec.gpu_count}" if spec.gpu and spec.gpu_count > 1 else spec.gpu
        await request.progress(1, 3, f"starting the Modal sandbox ({gpu or 'CPU'}); a new image builds first")
        with self._translated("creating the sandbox", gpu):
            sandbox = await modal.Sandbox.create.aio(
                *command, app=app, image=image, gpu=gpu, timeout=int(spec.timeout),
                idle_timeout=int(spec.idle_timeout) if spec.idle_timeout else None,
                secrets=[modal.Secret.from_dict(hidden), *self._secrets(spec)],
                env={**spec.env, "SEER_SANDBOX_ID": request.sandbox_id, "PYTHONUNBUFFERED": "1"},
                volumes=volumes, encrypted_ports=[AGENT_PORT] + ([DEBUG_PORT] if debug_token else []),
                workdir=paths.workspace, name=request.sandbox_id,
                **({"memory": spec.memory} if spec.memory else {}))
        handle: dict[str, Any] = {"sandbox_object_id": sandbox.object_id, "app": self.settings.modal_app,
                                  "root": paths.root}
        try:
            with self._translated("opening the sandbox's tunnel"):
                tunnels = await sandbox.tunnels.aio(timeout=int(self.settings.modal_start_timeout))
            handle["url"] = tunnels[AGENT_PORT].url
            if debug_token:
                handle["debug_url"] = f"{tunnels[DEBUG_PORT].url}/lab?token={debug_token}"
            await request.progress(2, 3, "waiting for the sandbox agent")
            await self._wait_for_agent(sandbox, handle["url"], request.token)
        except BaseException:
            await self.stop(handle)
            raise
        return StartedSandbox(address=self.address(handle, request.token), workspace_path=paths.workspace,
                              handle=handle, agent_mirrors_notebooks=False, models=[m.record() for m in models])

    async def _wait_for_agent(self, sandbox: Any, url: str, token: str) -> None:
        deadline = time.monotonic() + self.settings.modal_start_timeout
        async with httpx.AsyncClient(timeout=10.0) as http:
            while time.monotonic() < deadline:
                try:
                    reply = await http.get(f"{url}/health", headers={"Authorization": f"Bearer {token}"})
                    if reply.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if await sandbox.poll.aio() is not None:
                    raise SandboxStartError(f"the sandbox agent exited while starting (exit {sandbox.returncode}); "
                                            "its log is in Modal's dashboard")
                await asyncio.sleep(_HEALTH_POLL_S)
        raise SandboxStartError(f"the sandbox agent did not answer within {self.settings.modal_start_timeout:g}s "
                                "(SEER_MODAL_START_TIMEOUT)")

    async def _sandbox(self, handle: dict[str, Any]) -> Any | None:
        errors = self.sdk.exception
        try:
            return await self.sdk.Sandbox.from_id.aio(handle["sandbox_object_id"])
        except (errors.NotFoundError, KeyError):
            return None

    async def stop(self, handle: dict[str, Any]) -> None:
        if "sandbox_object_id" not in handle:
            return
        sandbox = await self._sandbox(handle)
        if sandbox is not None:
            with contextlib.suppress(self.sdk.exception.Error):
                await sandbox.terminate.aio()

    async def is_alive(self, handle: dict[str, Any]) -> bool:
        sandbox = await self._sandbox(handle)
        return sandbox is not None and await sandbox.poll.aio() is None

    def address(self, handle: dict[str, Any], token: str) -> AgentAddress:
        return AgentAddress(token=token, url=handle.get("url"))

    async def snapshot(self, handle: dict[str, Any], snapshot_id: str, progress: StepProgress = no_progress
                       ) -> dict[str, Any]:
        sandbox = await self._sandbox(handle)
        if sandbox is None:
            raise SandboxUnavailable("the Modal sandbox is gone; nothing to snapshot")
        await progress(0, None, "saving the sandbox's filesystem as an image")
        with self._translated("saving the filesystem"):
            image = await sandbox.snapshot_filesystem.aio()
        return {"image_id": image.object_id}

    async def delete_snapshot(self, data: dict[str, Any]) -> None:
        """Modal keeps snapshot images on its side (they expire on their own); forgetting the record is all."""


def _dotenv_values() -> dict[str, str]:
    """The operator's .env (in the server's working directory), where secrets may be kept."""
    path = Path(".env")
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}
