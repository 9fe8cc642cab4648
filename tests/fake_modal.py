"""A fake of the part of the `modal` SDK that the Modal backend uses; its sandboxes are local processes.

Tests hand this module to the backend in place of `modal` (by monkeypatching
`seer_mcp.backends.modal_backend.load_sdk`), so the backend's own code runs
unchanged while each "container" is a subprocess of this machine running the
real command, usually the real sandbox agent. Like modal's synchronicity
wrappers, every call that does I/O works synchronously and as `await x.aio(...)`.

What a container is, here:
- its command runs with `python` replaced by this interpreter, in a session of its own;
- its environment is this process's, less `SEER_*` and `MODAL_*` variables, plus the
  image's `.env(...)` steps, `env`, and every secret's values;
- a volume mounted at PATH is a symlink at PATH to `<FAKE_ROOT>/volumes/<name>`;
- an encrypted port P is a free local port Q: `--port P` in the command becomes `--port Q`,
  and `tunnels()` maps P to `http://127.0.0.1:Q`;
- its filesystem, for `snapshot_filesystem`, is the deepest directory holding every directory
  its command names (`--root`, `--workspace`) and its `workdir`; a sandbox created from a
  snapshot image gets the saved tree copied into its own such directory first.

Module-level registries that tests read and fill: `CREATED`, `FAIL_NEXT_CREATE`,
`FAKE_SECRETS`, `FAKE_SNAPSHOTS`. Call `reset(root)` before use and `terminate_all()` after.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import secrets as _secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import types
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import psutil

# ----- registries ---------------------------------------------------------------------------------

FAKE_ROOT: Path | None = None
FAKE_SECRETS: dict[str, dict[str, str]] = {}  # Secret.from_name looks names up here
FAIL_NEXT_CREATE: list[Exception] = []  # Sandbox.create pops and raises the first one
FAKE_SNAPSHOTS: dict[str, Image] = {}  # image object_id -> the image snapshot_filesystem made


@dataclass
class CreateCall:
    """One `Sandbox.create` call, exactly as the backend made it."""

    args: tuple[str, ...]
    kwargs: dict[str, Any]


CREATED: list[CreateCall] = []

_APPS: dict[str, App] = {}
_VOLUMES: dict[str, Volume] = {}
_SANDBOXES: dict[str, Sandbox] = {}
_LOCK = threading.RLock()

_MARKER_ENV = "FAKE_MODAL_SANDBOX_ID"  # lets terminate find processes that left the sandbox's process tree
_TERM_GRACE_S = 3.0
_GPU = re.compile(r"^(T4|L4|A10G|L40S|A100|A100-40GB|A100-80GB|H100|H200|B200)(:[1-8])?$", re.IGNORECASE)


def _root() -> Path:
    if FAKE_ROOT is None:
        raise RuntimeError("fake_modal.reset(root) was not called")
    return FAKE_ROOT


def _hex() -> str:
    return _secrets.token_hex(6)


def reset(root: Path) -> None:
    """Start afresh under `root`: stops every fake sandbox and empties every registry."""
    global FAKE_ROOT
    terminate_all()
    with _LOCK:
        FAKE_ROOT = Path(root)
        FAKE_ROOT.mkdir(parents=True, exist_ok=True)
        for registry in (FAKE_SECRETS, FAKE_SNAPSHOTS, _APPS, _VOLUMES, _SANDBOXES):
            registry.clear()
        FAIL_NEXT_CREATE.clear()
        CREATED.clear()


def terminate_all() -> None:
    """Kills every fake sandbox's processes (for fixture teardown)."""
    with _LOCK:
        sandboxes = list(_SANDBOXES.values())
    for sandbox in sandboxes:
        sandbox._terminate()


# ----- the sync / .aio call style ------------------------------------------------------------------


class _Call:
    """One bound method: `call(...)` runs it synchronously, `await call.aio(...)` asynchronously."""

    def __init__(self, sync: Callable[..., Any], aio: Callable[..., Awaitable[Any]]) -> None:
        self._sync = sync
        self.aio = aio

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._sync(*args, **kwargs)


class dual:
    """Decorates a method so that it has a synchronous form and an `.aio` form, like modal's methods.

    The `.aio` form is, by default, the same function called directly (`blocking=False`: it returns
    at once) or in a worker thread (`blocking=True`); `@method.async_form` gives it a body of its own
    (for waits that may last long, so that no worker thread is held). `on_class=True` binds the class,
    for constructors such as `Sandbox.create`.
    """

    def __init__(self, fn: Callable[..., Any] | None = None, *, blocking: bool = False, on_class: bool = False
                 ) -> None:
        self._fn = fn
        self._aio: Callable[..., Awaitable[Any]] | None = None
        self._blocking = blocking
        self._on_class = on_class

    def __call__(self, fn: Callable[..., Any]) -> dual:  # used as @dual(blocking=...)
        self._fn = fn
        return self

    def async_form(self, afn: Callable[..., Awaitable[Any]]) -> dual:
        self._aio = afn
        return self

    def __get__(self, obj: Any, owner: type) -> Any:
        target = owner if self._on_class else obj
        if target is None:
            return self
        assert self._fn is not None
        sync = functools.partial(self._fn, target)
        if self._aio is not None:
            return _Call(sync, functools.partial(self._aio, target))
        if self._blocking:
            async def in_thread(*args: Any, **kwargs: Any) -> Any:
                return await asyncio.to_thread(sync, *args, **kwargs)
            return _Call(sync, in_thread)

        async def direct(*args: Any, **kwargs: Any) -> Any:
            return sync(*args, **kwargs)
        return _Call(sync, direct)


# ----- exceptions ----------------------------------------------------------------------------------


def _exceptions() -> types.ModuleType:
    """`modal.exception`'s classes that a backend catches, with modal's hierarchy."""
    module = types.ModuleType("fake_modal.exception")

    class Error(Exception):
        pass

    class AuthError(Error):
        pass

    class NotFoundError(Error):
        pass

    class AlreadyExistsError(Error):
        pass

    class InvalidError(Error):
        pass

    class ResourceExhaustedError(Error):
        pass

    class RemoteError(Error):
        pass

    class ImageBuildError(RemoteError):
        pass

    class TimeoutError(Error):  # modal's name, shadowing the builtin here only
        pass

    class SandboxTimeoutError(TimeoutError):
        pass

    class SandboxTerminatedError(Error):
        pass

    class ExecutionError(Error):
        pass

    for cls in (Error, AuthError, NotFoundError, AlreadyExistsError, InvalidError, ResourceExhaustedError,
                RemoteError, ImageBuildError, TimeoutError, SandboxTimeoutError, SandboxTerminatedError,
                ExecutionError):
        cls.__module__ = module.__name__
        cls.__qualname__ = cls.__name__
        setattr(module, cls.__name__, cls)
    return module


exception = _exceptions()


# ----- App, Secret ---------------------------------------------------------------------------------


class App:
    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self.app_id = f"ap-fake-{_hex()}"

    @dual(on_class=True)
    def lookup(cls, name: str, *, create_if_missing: bool = False, **_: Any) -> App:
        with _LOCK:
            if name not in _APPS:
                if not create_if_missing:
                    raise exception.NotFoundError(f"App '{name}' not found")
                _APPS[name] = cls(name)
            return _APPS[name]


class Secret:
    def __init__(self, name: str | None, values: dict[str, str] | None, required_keys: Sequence[str]) -> None:
        self.name = name
        self._values = values
        self.required_keys = list(required_keys)

    @classmethod
    def from_name(cls, name: str, *, required_keys: Sequence[str] = (), **_: Any) -> Secret:
        return cls(name, None, required_keys)

    @classmethod
    def from_dict(cls, env_dict: Mapping[str, str | None] | None = None) -> Secret:
        return cls(None, {k: v for k, v in (env_dict or {}).items() if v is not None}, [])

    def resolve(self) -> dict[str, str]:
        """The values, looked up lazily as the real SDK does when a sandbox is created."""
        if self._values is not None:
            return dict(self._values)
        values = FAKE_SECRETS.get(self.name or "")
        if values is None:
            raise exception.NotFoundError(f"Secret '{self.name}' not found")
        missing = [key for key in self.required_keys if key not in values]
        if missing:
            raise exception.NotFoundError(f"Secret '{self.name}' is missing key(s): {', '.join(missing)}")
        return dict(values)


# ----- Image ---------------------------------------------------------------------------------------


Step = tuple[str, tuple[Any, ...], dict[str, Any]]


@dataclass(frozen=True)
class Image:
    """An image definition: the steps that built it, recorded, not run (this interpreter is the image).

    A snapshot image also carries the saved file tree and the root it was taken from.
    """

    steps: tuple[Step, ...] = ()
    object_id: str = field(default_factory=lambda: f"im-fake-{_hex()}")
    snapshot_dir: Path | None = None
    snapshot_root: str | None = None

    def _then(self, method: str, *args: Any, **kwargs: Any) -> Image:
        return Image(steps=(*self.steps, (method, args, kwargs)), snapshot_dir=self.snapshot_dir,
                     snapshot_root=self.snapshot_root)

    @classmethod
    def debian_slim(cls, python_version: str | None = None, **kwargs: Any) -> Image:
        return cls(steps=(("debian_slim", (), {"python_version": python_version, **kwargs}),))

    @classmethod
    def from_dockerfile(cls, path: str | Path, *, add_python: str | None = None, **kwargs: Any) -> Image:
        return cls(steps=(("from_dockerfile", (str(path),), {"add_python": add_python, **kwargs}),))

    @dual(on_class=True)
    def from_id(cls, image_id: str) -> Image:
        with _LOCK:
            if image_id not in FAKE_SNAPSHOTS:
                raise exception.NotFoundError(f"Image '{image_id}' not found")
            return FAKE_SNAPSHOTS[image_id]

    def apt_install(self, *packages: str, **kwargs: Any) -> Image:
        return self._then("apt_install", *packages, **kwargs)

    def pip_install(self, *packages: str, **kwargs: Any) -> Image:
        return self._then("pip_install", *packages, **kwargs)

    def run_commands(self, *commands: str, **kwargs: Any) -> Image:
        return self._then("run_commands", *commands, **kwargs)

    def add_local_python_source(self, *modules: str, copy: bool = False, **kwargs: Any) -> Image:
        return self._then("add_local_python_source", *modules, copy=copy, **kwargs)

    def env(self, vars: dict[str, str]) -> Image:
        return self._then("env", dict(vars))

    def workdir(self, path: str | Path) -> Image:
        return self._then("workdir", str(path))

    def step_args(self, method: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        """The (args, kwargs) of every step made by `method`, in order: for assertions."""
        return [(args, kwargs) for name, args, kwargs in self.steps if name == method]

    def _environment(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for (values,), _ in self.step_args("env"):
            merged.update({k: str(v) for k, v in values.items() if v is not None})
        return merged

    def _workdir(self) -> str | None:
        dirs = self.step_args("workdir")
        return dirs[-1][0][0] if dirs else None


# ----- Volume --------------------------------------------------------------------------------------


class _BatchUpload:
    """`volume.batch_upload()`: files are queued, then copied in when the block ends (as modal uploads)."""

    def __init__(self, volume: Volume, force: bool) -> None:
        self._volume = volume
        self._force = force
        self._queue: list[tuple[Path, str, bool]] = []

    def put_file(self, local_file: str | Path, remote_path: str | Path, mode: int | None = None) -> None:
        self._queue.append((Path(local_file), str(remote_path), False))

    def put_directory(self, local_path: str | Path, remote_path: str | Path, recursive: bool = True) -> None:
        self._queue.append((Path(local_path), str(remote_path), True))

    def _commit(self) -> None:
        base = self._volume._ensure()
        for local, remote, is_dir in self._queue:
            dest = base / remote.lstrip("/")
            if not is_dir:
                if dest.exists() and not self._force:
                    raise FileExistsError(f"{remote} already exists in volume '{self._volume.name}' (force=False)")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local, dest)
                continue
            for source in local.rglob("*"):
                target = dest / source.relative_to(local)
                if source.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                elif target.exists() and not self._force:
                    raise FileExistsError(f"{target.relative_to(base)} already exists in volume "
                                          f"'{self._volume.name}' (force=False)")
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self._commit()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            await asyncio.to_thread(self._commit)


class _BatchUploadCall:
    """`batch_upload(...)` and `batch_upload.aio(...)` both return the context manager, as in modal."""

    def __init__(self, volume: Volume) -> None:
        self._volume = volume

    def __call__(self, force: bool = False) -> _BatchUpload:
        return _BatchUpload(self._volume, force)

    def aio(self, force: bool = False) -> _BatchUpload:
        return _BatchUpload(self._volume, force)


class Volume:
    """A named volume: a directory under `<FAKE_ROOT>/volumes/`. One object per name."""

    def __init__(self, name: str, create_if_missing: bool, read_only: bool = False) -> None:
        self.name = name
        self.create_if_missing = create_if_missing
        self.is_read_only = read_only
        self.object_id = f"vo-fake-{_hex()}"

    @property
    def path(self) -> Path:
        return _root() / "volumes" / self.name

    @classmethod
    def from_name(cls, name: str, *, create_if_missing: bool = False, **_: Any) -> Volume:
        with _LOCK:
            volume = _VOLUMES.get(name)
            if volume is None:
                volume = _VOLUMES[name] = cls(name, create_if_missing)
            elif create_if_missing:
                volume.create_if_missing = True
            return volume

    def read_only(self) -> Volume:
        view = Volume(self.name, self.create_if_missing, read_only=True)
        view.object_id = self.object_id
        return view

    def _ensure(self) -> Path:
        """The volume's directory; like the real SDK, a missing volume fails when first used."""
        if not self.path.is_dir():
            if not self.create_if_missing and not _VOLUMES[self.name].create_if_missing:
                raise exception.NotFoundError(f"Volume '{self.name}' not found")
            self.path.mkdir(parents=True, exist_ok=True)
        return self.path

    @property
    def batch_upload(self) -> _BatchUploadCall:
        return _BatchUploadCall(self)

    @dual
    def commit(self) -> None:
        self._ensure()

    @dual
    def reload(self) -> None:
        self._ensure()


# ----- Sandbox -------------------------------------------------------------------------------------


@dataclass
class Tunnel:
    """Where an encrypted port is reached from outside; here plain HTTP on localhost."""

    host: str
    port: int
    url: str
    unencrypted_host: str = ""
    unencrypted_port: int = 0


class _Stream:
    """`sandbox.stdout` / `sandbox.stderr`: `read()` returns all the text once the process has exited."""

    def __init__(self, sandbox: Sandbox, path: Path) -> None:
        self._sandbox = sandbox
        self._path = path

    @dual
    def read(self) -> str:
        self._sandbox._proc.wait()
        return self._path.read_text(errors="replace")

    @read.async_form
    async def read(self) -> str:
        await self._sandbox.wait.aio(raise_on_termination=False)
        return self._path.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _option(args: list[str], name: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` in a command line."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _rewrite_port(args: list[str], port: int, local: int) -> bool:
    """Replaces `--port PORT` (or any `--<something>-port PORT`, `=` forms too) with the local port;
    False when the command names that port nowhere."""
    for i, arg in enumerate(args):
        option = arg.split("=", 1)[0]
        if not (option.startswith("--") and option.endswith("port")):
            continue
        if "=" not in arg and i + 1 < len(args) and args[i + 1] == str(port):
            args[i + 1] = str(local)
            return True
        if arg == f"{option}={port}":
            args[i] = f"{option}={local}"
            return True
    return False


def _container_root(command: list[str], workdir: str | None) -> tuple[Path | None, str]:
    """The directory that stands for a container's filesystem, or None and why there is none.

    It is the deepest directory holding every directory the command names: `--root`, `--workspace`
    and `workdir` (so `--root R/seer --workspace R/workspace` gives R, and `--root R` alone gives R).
    A root as shallow as `/` or `/tmp` is refused: copying it would copy this machine.
    """
    named = [p for p in (_option(command, "--root"), _option(command, "--workspace"), workdir) if p]
    if not named:
        return None, "its command names no --root or --workspace, and it has no workdir"
    common = Path(os.path.commonpath([os.path.abspath(p) for p in named]))
    if len(common.parts) < 3:
        return None, f"the directories it names ({', '.join(named)}) share no directory deeper than {common}"
    return common, ""


def _copy_tree(source: Path, dest: Path) -> None:
    """Copies regular files, folders and symlinks; skips sockets and FIFOs, and files that vanish meanwhile."""
    dest.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(source):
        here = Path(dirpath)
        there = dest / here.relative_to(source)
        for name in [*dirnames, *filenames]:
            src, dst = here / name, there / name
            try:
                mode = src.lstat().st_mode
                if stat.S_ISLNK(mode):
                    if dst.is_symlink() or dst.exists():
                        dst.unlink()
                    dst.symlink_to(os.readlink(src))
                elif stat.S_ISDIR(mode):
                    dst.mkdir(exist_ok=True)
                elif stat.S_ISREG(mode):
                    shutil.copy2(src, dst)
            except FileNotFoundError:
                continue
        dirnames[:] = [d for d in dirnames if not (here / d).is_symlink()]  # a mount's contents stay in its volume


class Sandbox:
    """A container: a local process in a session of its own."""

    def __init__(self, object_id: str, app: App | None, image: Image | None, name: str | None,
                 proc: subprocess.Popen[bytes], logs: Path, root: Path | None, tunnels: dict[int, Tunnel],
                 timeout: float | None) -> None:
        self.object_id = object_id
        self.app = app
        self.image = image
        self.name = name
        self._proc = proc
        self._logs = logs
        self._root = root
        self._root_problem = ""
        self._tunnels = tunnels
        self._terminated = False
        self._timed_out = False
        self._term_lock = threading.Lock()
        self.stdout = _Stream(self, logs / "stdout.log")
        self.stderr = _Stream(self, logs / "stderr.log")
        self._timer: threading.Timer | None = None
        if timeout:
            self._timer = threading.Timer(timeout, self._expire)
            self._timer.daemon = True
            self._timer.start()

    # ----- create / from_id ----------------------------------------------------------------------

    @dual(blocking=True, on_class=True)
    def create(cls, *args: str, app: App | None = None, image: Image | None = None, secrets: Any = (),
               volumes: dict[str, Volume] | None = None, encrypted_ports: Any = (), gpu: str | None = None,
               timeout: float | None = 300, idle_timeout: float | None = None, workdir: str | None = None,
               env: dict[str, str | None] | None = None, name: str | None = None, **rest: Any) -> Sandbox:
        kwargs = {"app": app, "image": image, "secrets": secrets, "volumes": volumes or {},
                  "encrypted_ports": encrypted_ports, "gpu": gpu, "timeout": timeout, "idle_timeout": idle_timeout,
                  "workdir": workdir, "env": env, "name": name, **rest}
        with _LOCK:
            CREATED.append(CreateCall(tuple(args), kwargs))
            if FAIL_NEXT_CREATE:
                raise FAIL_NEXT_CREATE.pop(0)
        if app is None:
            raise exception.InvalidError("Sandboxes require an App when created outside of a Modal container.")
        if gpu is not None and not _GPU.match(str(gpu)):
            raise exception.InvalidError(f"Invalid GPU type: '{gpu}'.")
        if not args or not all(isinstance(a, str) for a in args):
            raise exception.InvalidError(f"a sandbox's command must be strings, got {args!r}")
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("SEER_", "MODAL_"))}
        image = image or Image.debian_slim()
        environment.update(image._environment())
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        for secret in secrets or ():
            environment.update(secret.resolve())  # raises NotFoundError for an unknown name
        with _LOCK:
            if name is not None and any(s.name == name and s.app is app and s._proc.poll() is None
                                        for s in _SANDBOXES.values()):
                raise exception.AlreadyExistsError(f"Sandbox with name '{name}' already exists")

        object_id = f"sb-fake-{_hex()}"
        logs = _root() / "sandboxes" / object_id
        logs.mkdir(parents=True)
        command = list(args)
        if command[0] == "python":
            command[0] = sys.executable
        tunnels: dict[int, Tunnel] = {}
        for port in encrypted_ports or ():
            # A command that names no `--port PORT` is taken to listen on PORT itself.
            local = _free_port()
            if not _rewrite_port(command, port, local):
                local = port
            tunnels[port] = Tunnel(host="127.0.0.1", port=local, url=f"http://127.0.0.1:{local}")
        workdir = workdir or image._workdir()
        cwd = Path(workdir) if workdir else logs
        cwd.mkdir(parents=True, exist_ok=True)
        root, root_problem = _container_root(command, workdir)
        if image.snapshot_dir is not None:
            if root is None:
                raise exception.InvalidError(f"fake_modal: cannot restore a snapshot here: {root_problem}")
            _copy_tree(image.snapshot_dir, root)
        for mount, volume in (volumes or {}).items():
            target = volume._ensure()
            link = Path(mount)
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink():
                link.unlink()
            elif link.exists():
                raise exception.InvalidError(f"fake_modal: cannot mount volume at {mount}: something is there")
            link.symlink_to(target, target_is_directory=True)
        environment[_MARKER_ENV] = object_id
        (logs / "command.txt").write_text("\n".join(command) + "\n")
        with open(logs / "stdout.log", "wb") as out, open(logs / "stderr.log", "wb") as err:
            proc = subprocess.Popen(command, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, start_new_session=True)
        sandbox = cls(object_id, app, image, name, proc, logs, root, tunnels, timeout)
        sandbox._root_problem = root_problem
        with _LOCK:
            _SANDBOXES[object_id] = sandbox
        return sandbox

    @dual(on_class=True)
    def from_id(cls, sandbox_id: str, **_: Any) -> Sandbox:
        with _LOCK:
            if sandbox_id not in _SANDBOXES:
                raise exception.NotFoundError(f"Sandbox '{sandbox_id}' not found")
            return _SANDBOXES[sandbox_id]

    # ----- state ---------------------------------------------------------------------------------

    @property
    def returncode(self) -> int | None:
        code = self._proc.poll()
        if code is None:
            return None
        return 128 - code if code < 0 else code  # a container's exit status, not Popen's -SIGNAL

    @dual
    def poll(self) -> int | None:
        return self.returncode

    def _raise_for_end(self, raise_on_termination: bool) -> None:
        if self._timed_out:
            raise exception.SandboxTimeoutError()
        if self._terminated and raise_on_termination:
            raise exception.SandboxTerminatedError()

    @dual
    def wait(self, raise_on_termination: bool = True) -> None:
        self._proc.wait()
        self._raise_for_end(raise_on_termination)

    @wait.async_form
    async def wait(self, raise_on_termination: bool = True) -> None:
        while self._proc.poll() is None:  # polled, so that no worker thread waits for a long-lived container
            await asyncio.sleep(0.05)
        self._raise_for_end(raise_on_termination)

    @dual
    def tunnels(self, timeout: int = 50) -> dict[int, Tunnel]:
        return dict(self._tunnels)

    # ----- terminate -----------------------------------------------------------------------------

    def _victims(self) -> list[psutil.Process]:
        """Everything the container runs: the process tree, and strays that carry its marker variable."""
        found: dict[int, psutil.Process] = {}
        with contextlib.suppress(psutil.Error):
            leader = psutil.Process(self._proc.pid)
            found[leader.pid] = leader
            for child in leader.children(recursive=True):
                found[child.pid] = child
        me = os.getpid()
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == me or proc.pid in found:
                continue
            try:
                if proc.environ().get(_MARKER_ENV) == self.object_id:
                    found[proc.pid] = proc
            except psutil.Error:
                continue
        return list(found.values())

    def _terminate(self, timed_out: bool = False) -> None:
        with self._term_lock:
            if self._timer is not None:
                self._timer.cancel()
            if self._terminated:
                return
            self._terminated = True
            self._timed_out = timed_out
            victims = self._victims()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            for proc in victims:
                with contextlib.suppress(psutil.Error):
                    proc.terminate()
            deadline = time.monotonic() + _TERM_GRACE_S
            while self._proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            _, alive = psutil.wait_procs(victims, timeout=max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            for proc in alive:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            self._proc.wait()

    def _expire(self) -> None:
        if self._proc.poll() is None:  # a container that already ended did not time out
            self._terminate(timed_out=True)

    @dual(blocking=True)
    def terminate(self) -> None:
        self._terminate()

    # ----- snapshots -----------------------------------------------------------------------------

    @dual(blocking=True)
    def snapshot_filesystem(self, timeout: int = 55, **_: Any) -> Image:
        if self._root is None:
            raise exception.InvalidError(f"fake_modal: cannot snapshot this sandbox: {self._root_problem}")
        image_id = f"im-fake-{_hex()}"
        saved = _root() / "snapshots" / image_id
        _copy_tree(self._root, saved)
        steps = self.image.steps if self.image else ()
        image = Image(steps=(*steps, ("snapshot_filesystem", (), {"sandbox": self.object_id})), object_id=image_id,
                      snapshot_dir=saved, snapshot_root=str(self._root))
        with _LOCK:
            FAKE_SNAPSHOTS[image_id] = image
        return image
