"""A sandbox's view of the machine, as bubblewrap arguments.

The plan is built by the local backend (which knows the sandbox's folders and
models) and run by the sandbox agent (which starts the sandbox's launcher in
it). Everything not mounted here does not exist inside: the home directory,
the state dir, other sandboxes, the HF cache, configs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class Mount(BaseModel):
    target: str
    source: str = ""  # the same path as target when empty
    kind: Literal["ro", "rw", "dev", "symlink"] = "ro"

    @property
    def origin(self) -> str:
        return self.source or self.target


class IsolationPlan(BaseModel):
    bwrap: str
    mounts: list[Mount] = Field(default_factory=list)
    network: bool = True
    user_namespace: bool = False  # where the server is not root
    workdir: str

    def argv(self) -> list[str]:
        """bubblewrap's command line, up to (not including) the command it runs."""
        args = [self.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--die-with-parent", "--new-session", "--hostname", "sandbox"]
        args += ["--unshare-user"] if self.user_namespace else ["--cap-drop", "ALL"]
        if not self.network:
            args.append("--unshare-net")
        # Private /proc, /dev and /tmp first: later binds may lie beneath them.
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/run"]
        for mount in sorted(self.mounts, key=lambda m: m.target.count("/")):
            flag = {"ro": "--ro-bind", "rw": "--bind", "dev": "--dev-bind", "symlink": "--symlink"}[mount.kind]
            args += [flag, mount.origin, mount.target]
        return args + ["--chdir", self.workdir]


def without_covered(mounts: list[Mount]) -> list[Mount]:
    """Drops read-only identity mounts that lie inside another one (the venv under /usr, say)."""
    identity = [m.target for m in mounts if m.kind == "ro" and m.origin == m.target]
    kept, seen = [], set()
    for mount in mounts:
        if (mount.target, mount.kind) in seen:
            continue
        covered = mount.kind == "ro" and mount.origin == mount.target and any(
            mount.target != other and Path(mount.target).is_relative_to(other) for other in identity)
        if not covered:
            kept.append(mount)
            seen.add((mount.target, mount.kind))
    return kept


def existing(paths: list[str], kind: Literal["ro", "rw", "dev"] = "ro") -> list[Mount]:
    return [Mount(target=p, kind=kind) for p in paths if os.path.exists(p)]
