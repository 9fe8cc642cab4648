"""Which isolation a local sandbox gets: `SEER_ISOLATION=auto|namespaces|none`.

`auto` uses namespaces where bubblewrap runs here and falls back to none with
a warning; `namespaces` refuses to start a sandbox without them; `none` runs
sandboxes as plain processes. The probe runs bubblewrap once per process.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt install bubblewrap)"


@dataclass(frozen=True)
class Isolation:
    level: str  # "namespaces" or "none"
    warning: str = ""  # why a sandbox asked for isolation runs without it


def user_namespace_needed() -> bool:
    return os.geteuid() != 0


@functools.lru_cache(maxsize=8)
def probe(bwrap: str) -> str:
    """'' when bubblewrap can make a sandbox here, else why not."""
    path = shutil.which(bwrap)
    if path is None:
        return f"bubblewrap ({bwrap}) is not installed; {INSTALL_HINT}"
    args = [path, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    args += ["--unshare-user"] if user_namespace_needed() else ["--cap-drop", "ALL"]
    try:
        done = subprocess.run([*args, "true"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not run: {exc}"
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return (f"bubblewrap cannot create namespaces here ({reason[0]}); on Linux, allow unprivileged user "
                "namespaces (sysctl kernel.unprivileged_userns_clone=1 or "
                "kernel.apparmor_restrict_unprivileged_userns=0)")
    return ""


def choose(setting: str, bwrap: str) -> Isolation:
    """The isolation a new sandbox gets; raises RuntimeError for `namespaces` where they cannot work."""
    if setting == "none":
        return Isolation("none")
    problem = probe(bwrap)
    if not problem:
        return Isolation("namespaces")
    if setting == "namespaces":
        raise RuntimeError(f"SEER_ISOLATION=namespaces, but {problem}")
    return Isolation("none", warning=f"this sandbox is not isolated from the host: {problem}. Its code can read "
                                     "what the server's user can read. Set SEER_ISOLATION=none to accept this "
                                     "without a warning, or fix bubblewrap.")
