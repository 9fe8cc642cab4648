"""Fixtures shared by the suite: throwaway settings, a server, and MCP clients."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import psutil
import pytest
from fastmcp import Client

# How tests read a tool result: the same readers as the packaged conformance suite's (tests import them from here).
from seer_mcp.backends.conformance_checks import output_of, status_of, text_of  # noqa: F401
from seer_mcp.harness import local_workdirs
from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings

REPO = Path(__file__).resolve().parents[1]

# Every server the suite starts terminates its local sandboxes when it stops, so no test leaves kernels behind.
# (The default keeps them, for clients that start one server per call; tests of that say so in their settings.)
os.environ["SEER_TERMINATE_ON_EXIT"] = "1"


def tiny_package(module: str, init: str = "ANSWER = 42\n") -> dict[str, str]:
    """A pip-installable package's files (relative path -> text): `import <module>` runs `init`."""
    pyproject = ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
                 f'[project]\nname = "{module.replace("_", "-")}"\nversion = "1.0"\n')
    return {f"{module}/__init__.py": init, "pyproject.toml": pyproject}


def write_files(folder: Path, files: dict[str, str]) -> Path:
    """Writes `files` (relative path -> text) under `folder`; returns `folder`."""
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder


@pytest.fixture(autouse=True)
def no_local_session_outlives_its_test(monkeypatch: pytest.MonkeyPatch) -> None:
    # An open local session gives `run_agent(..., mcp_config={})` host tools; each test starts with none open.
    monkeypatch.setattr(local_workdirs, "_open", [])


@pytest.fixture(scope="session")
def organism_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One organism cache for the session, so the recipe's and the demo's tests build each organism
    once ($SEER_ORGANISM_CACHE, when set, reuses a developer's)."""
    return Path(os.environ.get("SEER_ORGANISM_CACHE") or tmp_path_factory.mktemp("organism-cache"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", outputs_dir=tmp_path / "outputs", cell_timeout=60,
                    terminate_on_exit=True, _env_file=None)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with Client(build_server(settings)) as mcp_client:
        yield mcp_client


@pytest.fixture(params=["legacy", "auto"])
async def any_client(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Client]:
    """The same server through the handshake-era protocol and through the current one."""
    async with Client(build_server(settings), mode=request.param) as mcp_client:
        yield mcp_client


async def open_session(client: Client, **sandbox_args: Any) -> tuple[str, str]:
    sandbox = await client.call_tool("create_sandbox", sandbox_args)
    sandbox_id = sandbox.structured_content["sandbox_id"]
    session = await client.call_tool("start_session", {"sandbox_id": sandbox_id})
    return sandbox_id, session.structured_content["session_id"]


def fields_of(result: Any) -> dict[str, Any]:
    """An output's fields for programs: `_meta["seer"]`, which clients do not show their model."""
    return result.meta["seer"]


def notebook_cells(page: Any) -> dict[int, dict[str, str]]:
    """The cells a read_notebook page shows, by index: each one's type, source and (shortened) output, read
    from its text (`--- [i] code, execution_count N` / `--- output of [i]` / `--- [i] markdown`)."""
    lines: dict[int, dict[str, list[str]]] = {}
    types: dict[int, str] = {}
    index, field = -1, "source"
    for line in output_of(page).split("\n"):
        header = re.fullmatch(r"--- \[(\d+)\] (code|markdown|raw)(?:, execution_count \S+)?", line)
        if header:
            index, field = int(header[1]), "source"
            types[index], lines[index] = header[2], {"source": [], "output": []}
        elif line == f"--- output of [{index}]":
            field = "output"
        else:
            assert index in lines, f"text before the first cell: {line!r}"
            lines[index][field].append(line)
    return {i: {"type": types[i], **{k: "\n".join(v) for k, v in cell.items()}} for i, cell in lines.items()}


def sandbox_processes(marker: str) -> list[psutil.Process]:
    """Every process whose command line mentions `marker` (a sandbox's directory or id)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid != os.getpid() and any(marker in arg for arg in (proc.info.get("cmdline") or [])):
            found.append(proc)
    return found


def server_env(settings: Settings) -> dict[str, str]:
    """Environment for a seer-mcp server subprocess that uses the test's settings."""
    env = dict(os.environ)
    env.update({"SEER_STATE_DIR": str(settings.state_dir), "SEER_OUTPUTS_DIR": str(settings.outputs_dir),
                "SEER_TERMINATE_ON_EXIT": "1" if settings.terminate_on_exit else "0",
                "SEER_RESULT_WAIT": str(settings.result_wait), "PYTHONUNBUFFERED": "1"})
    return env


PYTHON = sys.executable


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_http_server(env: dict[str, str], port: int, stderr_path: Path, cwd: Path | None = None):  # noqa: ANN201
    """`seer-mcp serve --http --port PORT` as a subprocess, returned once it answers on /mcp."""
    import subprocess
    import time

    import httpx

    with open(stderr_path, "w") as errlog:
        proc = subprocess.Popen([PYTHON, "-m", "seer_mcp", "serve", "--http", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=errlog, cwd=cwd)
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=0.5)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the HTTP server did not come up:\n{stderr_path.read_text()}") from None
            time.sleep(0.1)


@contextlib.contextmanager
def stdio_server_with_ui(env: dict[str, str], port: int, stderr_path: Path) -> Iterator[Any]:
    """`seer-mcp serve --ui-port PORT` over stdio, stopped as a client stops it: by closing its stdin."""
    import subprocess

    with open(stderr_path, "w") as errlog:
        proc = subprocess.Popen([PYTHON, "-m", "seer_mcp", "serve", "--ui-port", str(port)], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog)
    try:
        yield proc
    finally:
        proc.stdin.close()  # the MCP channel closes: the server stops
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def stop_http_server(proc: Any, grace: float = 30) -> None:
    """Ctrl-C, as a person stops it; killed if it has not exited after `grace` seconds."""
    import signal
    import subprocess

    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
