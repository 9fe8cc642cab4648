"""What a local sandbox takes from this machine: system packages, secrets, cloned repos.

A local sandbox cannot install apt packages or pick a Python version, so it
checks that what the spec asks for is already here and says what to do when it
is not, rather than starting a sandbox that fails later.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from seer_mcp.errors import InvalidRequest, SandboxStartError
from seer_mcp.spec import RepoSpec, SandboxSpec

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_host_fits(spec: SandboxSpec) -> None:
    """Raises InvalidRequest for what this machine cannot provide."""
    if spec.python_version and spec.python_version != f"{sys.version_info.major}.{sys.version_info.minor}":
        raise InvalidRequest(f"the local backend runs this server's Python "
                             f"({sys.version_info.major}.{sys.version_info.minor}), not {spec.python_version}; "
                             "leave python_version unset, or use backend='modal'")
    missing = missing_system_packages(spec.system_packages)
    if missing:
        raise InvalidRequest(f"system packages {missing} are not installed on this machine; install them "
                             f"(sudo apt install {' '.join(missing)}) or use backend='modal', which installs them")


def missing_system_packages(packages: list[str]) -> list[str]:
    """The apt packages dpkg does not list as installed (none can be checked without dpkg)."""
    if not packages or shutil.which("dpkg-query") is None:
        return []
    import subprocess

    missing = []
    for package in packages:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        if done.returncode != 0 or "install ok installed" not in done.stdout:
            missing.append(package)
    return missing


def dotenv_here() -> dict[str, str]:
    """The variables `./.env` sets (secrets are read from there as from the environment); {} without one."""
    if not Path(".env").is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(Path(".env")).items() if v is not None}


def secret_values(names: list[str], modal_names: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Each named secret's value from this server's environment or its .env; all of them, or an error.

    A Modal secret's name (`huggingface-secret`, as Seer's examples give it) stands for the variables
    `modal_names` lists for it (`Settings.local_secrets`); any other name is one variable.
    """
    local = dotenv_here()
    found, missing = {}, []
    for name in names:
        variables = (modal_names or {}).get(name, [name])
        if not variables or not all(_ENV_NAME.fullmatch(v) for v in variables):
            raise InvalidRequest(f"secret {name!r} names a Modal secret, which a local sandbox cannot read; map it to "
                                 f"the environment variables it holds with SEER_LOCAL_SECRETS='{{\"{name}\": "
                                 "[\"VAR\"]}', or use backend='modal'")
        for variable in variables:
            value = os.environ.get(variable) or local.get(variable)
            if value:
                found[variable] = value
            else:
                missing.append(variable if variable == name else f"{variable} (of {name})")
    if missing:
        raise InvalidRequest(f"secrets {missing} are not set in this server's environment or .env; set them there "
                             "(a local sandbox takes secrets from the server's environment)")
    return found


async def clone_repos(repos: list[RepoSpec], workspace: Path, env: dict[str, str], log: Path,
                      wrapper: Sequence[str] = ()) -> None:
    """Clones each repo into the workspace and runs its install command there (inside `wrapper`)."""
    for repo in repos:
        target = workspace / repo.folder
        steps = [] if target.exists() else [f"git clone --depth 1 {repo.clone_url} {target}"]
        if repo.install:
            steps.append(f"cd {target} && {repo.install}")
        for step in steps:
            proc = await asyncio.create_subprocess_exec(
                *wrapper, "/bin/bash", "-c", step, cwd=workspace, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            output, _ = await proc.communicate()
            with open(log, "ab") as f:
                f.write(f"$ {step}\n".encode() + output)
            if proc.returncode != 0:
                tail = "\n".join(output.decode(errors="replace").strip().splitlines()[-10:])
                raise SandboxStartError(f"setting up repo {repo.url} failed at `{step}` (exit {proc.returncode}):\n"
                                        f"{tail}")
