"""What one local sandbox sees: its isolation plan and its environment.

Inside the sandbox: the system and the Python environment read-only; the
sandbox's workspace, installed packages, home and shell state read-write; its
models read-only where their records say they are (hidden ones under opaque
folders of the sandbox's own); the kernels' sockets; a private /tmp. Nothing
else of the sandbox's root either: not its logs, not the agent's socket.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from seer_mcp.errors import InvalidRequest
from seer_mcp.isolation.environment import minimal_environment
from seer_mcp.isolation.host import gpu_mounts, python_mounts, system_mounts
from seer_mcp.isolation.mode import user_namespace_needed
from seer_mcp.isolation.plan import IsolationPlan, Mount, without_covered
from seer_mcp.models import ResolvedModel
from seer_mcp.wire import KERNEL_CONNECTIONS_DIR, KERNEL_SOCKETS_DIR

TOOLKIT_PARENT = Path(__file__).resolve().parents[2]  # makes `import toolkit` work in kernels
_MODEL_FILES = ("config.json", "adapter_config.json", "model_index.json")
WORKSPACE_ALIAS = "/workspace"


@dataclass(frozen=True)
class PipPrefix:
    """Where a sandbox's own `pip install` puts packages: the server's environment is read-only in an isolated
    sandbox, and must stay untouched by one that is not. `--prefix`, not `--target`: pip still sees what is
    installed (`Requirement already satisfied`) rather than installing every dependency again."""

    prefix: Path
    libs: tuple[Path, ...]  # purelib, and platlib where it differs
    scripts: Path

    @classmethod
    def of(cls, site_dir: Path) -> "PipPrefix":
        prefix = site_dir / "_pip"  # inside site-packages: writable, and kept by snapshots with it
        paths = sysconfig.get_paths(scheme=sysconfig.get_preferred_scheme("prefix"),
                                    vars={"base": str(prefix), "platbase": str(prefix)})
        libs = tuple(dict.fromkeys(Path(paths[name]) for name in ("purelib", "platlib")))
        return cls(prefix, libs, Path(paths["scripts"]))

    def make(self) -> None:
        """Made before the kernels start, so that their import system sees packages installed later; and the
        sandbox's package folders made site dirs (below)."""
        for folder in self.libs:
            folder.mkdir(parents=True, exist_ok=True)
        site_dir = self.prefix.parent
        relative = [os.path.relpath(folder, site_dir) for folder in (site_dir, *self.libs)]
        (site_dir / "sitecustomize.py").write_text(_SITE_HOOK.format(relative=relative))


# PYTHONPATH folders are not site dirs: their .pth files, which editable installs (`pip install -e .`, a repo's
# install command) and some packages rely on, would be ignored. Python imports the first sitecustomize on its
# path at start-up; the sandbox's, first on PYTHONPATH, makes its folders site dirs. (Paths relative to the
# file: a snapshot's copy in another sandbox still finds them.)
_SITE_HOOK = """# Written by seer-mcp: this sandbox's package folders are site dirs, so their .pth files work.
import os as _os
import site as _site

for _folder in {relative!r}:
    _site.addsitedir(_os.path.normpath(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), _folder)))
"""


def base_env(root: Path, site_dir: Path, passthrough: list[str]) -> dict[str, str]:
    """The environment of the agent, its kernels and its commands, before the spec's `env` and secrets."""
    pip = PipPrefix.of(site_dir)
    env = minimal_environment(home=str(root / "home"), python_bin=str(Path(sys.executable).parent),
                              python_path=[str(site_dir), *map(str, pip.libs), str(TOOLKIT_PARENT)],
                              extra_names=tuple(passthrough))
    env["PATH"] = f"{pip.scripts}{os.pathsep}{env['PATH']}"
    env["PIP_PREFIX"] = str(pip.prefix)
    return env


def hub_repo_of(path: Path) -> Path | None:
    """The Hub cache repo (`<cache>/models--org--name`) a snapshot folder `path` belongs to, or None."""
    if path.parent.name == "snapshots" and path.parents[1].name.startswith("models--"):
        return path.parents[1]
    return None


def model_mounts(models: list[ResolvedModel]) -> list[Mount]:
    """Each model's folder, read-only; a Hub snapshot with its repo (snapshot files link into blobs/)."""
    mounts = []
    for model in models:
        for path in filter(None, (model.path, model.base_path)):
            folder = Path(path)
            if (repo := hub_repo_of(folder)) is not None:
                folder = repo
            elif not any((folder / name).exists() for name in _MODEL_FILES):
                raise InvalidRequest(f"model folder {path} holds no config.json or adapter_config.json; a local "
                                     "model must be a saved transformers or peft folder")
            mounts.append(Mount(target=str(folder)))
    return mounts


def identity_files(runtime: Path, home: Path) -> list[Mount]:
    """/etc/passwd and /etc/group naming only the sandbox's user (libraries look themselves up there)."""
    uid, gid = os.getuid(), os.getgid()
    users = "root:x:0:0:root:/root:/usr/sbin/nologin\n" if uid else ""
    groups = "root:x:0:\n" if gid else ""
    (runtime / "passwd").write_text(users + f"sandbox:x:{uid}:{gid}:sandbox:{home}:/bin/bash\n")
    (runtime / "group").write_text(groups + f"sandbox:x:{gid}:\n")
    return [Mount(target="/etc/passwd", source=str(runtime / "passwd")),
            Mount(target="/etc/group", source=str(runtime / "group"))]


def sandbox_plan(*, bwrap: str, root: Path, runtime: Path, models: list[ResolvedModel],
                 network: bool) -> IsolationPlan:
    home = root / "home"
    writable = [root / "workspace", root / "site-packages", home, root / "shells", runtime / KERNEL_SOCKETS_DIR]
    for folder in writable:
        folder.mkdir(parents=True, exist_ok=True)
    mounts = system_mounts() + python_mounts() + gpu_mounts() + identity_files(runtime, home)
    mounts += [Mount(target=str(folder), kind="rw") for folder in writable]
    # Also at /workspace, where Seer's scripts and Modal sandboxes have it ("cat /workspace/config.json").
    mounts.append(Mount(target=WORKSPACE_ALIAS, source=str(root / "workspace"), kind="rw"))
    (runtime / KERNEL_CONNECTIONS_DIR).mkdir(exist_ok=True)
    mounts.append(Mount(target=str(runtime / KERNEL_CONNECTIONS_DIR)))  # the agent writes them, kernels read
    if (root / "models").is_dir():
        mounts.append(Mount(target=str(root / "models")))
    mounts += model_mounts([m for m in models if not m.spec.hidden])
    return IsolationPlan(bwrap=bwrap, mounts=without_covered(mounts), network=network,
                         user_namespace=user_namespace_needed(), workdir=str(root / "workspace"))
