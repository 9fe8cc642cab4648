"""The parts of this machine every sandbox needs: the system, the Python environment, GPUs.

Read-only, each at its own path. /etc is an allowlist (name resolution,
certificates, the loader's cache, time zones, fonts), not the whole folder:
it also holds the host's users, keys and service configs.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
from pathlib import Path

from seer_mcp.isolation.plan import Mount, existing

_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("alternatives", "ssl", "ca-certificates", "ca-certificates.conf", "pki", "resolv.conf", "hosts",
        "host.conf", "nsswitch.conf", "gai.conf", "localtime", "timezone", "ld.so.cache", "ld.so.conf",
        "ld.so.conf.d", "mime.types", "os-release", "debian_version", "lsb-release", "fonts", "matplotlibrc",
        "bash.bashrc", "profile", "inputrc", "protocols", "services", "gitconfig", "pip.conf", "xdg/pip",
        "nvidia", "OpenCL", "vulkan", "glvnd")
# Packages of seer-mcp that kernels and workers import (`organism` stays out: it holds the demo's recipe).
_OWN_PACKAGES = ("seer_mcp", "toolkit")


def system_mounts() -> list[Mount]:
    mounts: list[Mount] = []
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):  # merged /usr: /bin -> usr/bin
            mounts.append(Mount(target=path, source=os.readlink(path), kind="symlink"))
        elif os.path.isdir(path):
            mounts.append(Mount(target=path))
    mounts += existing([f"/etc/{name}" for name in _ETC])
    return mounts


def python_mounts() -> list[Mount]:
    """The interpreter, its standard library and site-packages, and seer-mcp's own packages."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(sys.executable).resolve().parents[1])}
    for name in _OWN_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            paths.update(spec.submodule_search_locations)
    return existing(sorted(paths))


def gpu_mounts() -> list[Mount]:
    """The host's NVIDIA devices and what their driver reads, when there are any."""
    devices = sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/dri"))
    if not devices:
        return []
    mounts = [Mount(target=d, kind="dev") for d in devices]
    mounts += existing(["/sys/bus", "/sys/devices", "/sys/dev", "/sys/module", "/sys/class",
                        "/run/nvidia-persistenced"])
    # Driver libraries outside /usr (CUDA images set LD_LIBRARY_PATH for them).
    mounts += existing([p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p.startswith("/")])
    return mounts
