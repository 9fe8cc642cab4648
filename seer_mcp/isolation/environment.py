"""A sandbox's environment, by allowlist: a fixed minimal set plus exactly what its spec names.

Nothing else of the server's environment reaches a kernel, at any isolation
level: not the operator's API keys, not the cloud credentials, not SEER_*.
"""

from __future__ import annotations

import os

# Taken from the server's environment when set: locale, time zone, and how this machine reaches
# the network (proxies, CA bundles) and its GPUs. None of these is a credential by design.
PASSED_THROUGH = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TERM",
                  "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy",
                  "all_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                  "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES")


def minimal_environment(*, home: str, python_bin: str, python_path: list[str],
                        extra_names: tuple[str, ...] = ()) -> dict[str, str]:
    """The environment every process of a sandbox starts from (before the spec's `env` and `secrets`)."""
    env = {name: os.environ[name] for name in (*PASSED_THROUGH, *extra_names) if name in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env.update({
        "PATH": os.pathsep.join([python_bin, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                                 "/sbin", "/bin"]),
        "HOME": home,
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "SHELL": "/bin/bash",
        "TMPDIR": "/tmp",
        "PYTHONPATH": os.pathsep.join(python_path),
        "PYTHONUNBUFFERED": "1",
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    })
    return env
