"""The MCP Inspector's CLI (`mcp-inspector --cli`, installed by scripts/install-clients.sh, run with node)
against seer-mcp: over stdio, where every invocation starts a server of its own, and over streamable HTTP
with a bearer token. The tests read what the Inspector prints, which is what its user (or an agent driving
it from a shell) sees.

The Inspector hands a stdio server only a minimal environment (HOME, PATH, ...; `-e KEY=VALUE` adds more),
so these servers run on their defaults under a throwaway HOME, as a user's would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PYTHON, free_port, start_http_server, stop_http_server
from tests.interop.clients import inspector_command, say

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SANDBOX = r"sb-[0-9a-f]{8}"
SESSION = r"ses-[0-9a-f]{12}"
STDIO = [PYTHON, "-m", "seer_mcp", "serve"]


@dataclass
class Printed:
    """One Inspector invocation: what it printed, and its exit status."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"the Inspector printed no JSON (exit {self.returncode}): "
                                 f"stdout {self.stdout[-2000:]!r} stderr {self.stderr[-2000:]!r}") from None

    def find(self, pattern: str) -> str:
        found = re.search(pattern, self.stdout)
        assert found, f"no {pattern!r} in what the Inspector printed (exit {self.returncode}): {self.stdout[-2000:]!r}"
        return found.group(0)

    def text(self) -> str:
        """The text blocks of a tools/call result, as printed."""
        return "\n".join(b.get("text", "") for b in self.json().get("content", []) if b.get("type") == "text")


@dataclass
class Inspector:
    home: Path

    def env(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
        return {**{k: os.environ[k] for k in keep if k in os.environ}, "HOME": str(self.home), "NO_COLOR": "1"}

    def __call__(self, *args: str, target: list[str] | None = None, timeout: float = 120) -> Printed:
        command = [*inspector_command(), *(target if target is not None else STDIO), *args]
        done = subprocess.run(command, check=False, cwd=self.home, env=self.env(), capture_output=True, text=True,
                              timeout=timeout)
        return Printed(done.returncode, done.stdout, done.stderr)

    def call(self, tool: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> Printed:
        return self("--method", "tools/call", "--tool-name", tool, "--tool-args-json", json.dumps(arguments or {}),
                    **kwargs)

    def stop_all(self) -> None:
        """Ends every sandbox the servers started under this home (their state is there)."""
        env = {**self.env(), "SEER_STATE_DIR": str(self.home / ".local" / "state" / "seer-mcp")}
        subprocess.run([PYTHON, "-m", "seer_mcp", "stop", "--all"], check=False, env=env, cwd=self.home,
                       capture_output=True, timeout=120)


@pytest.fixture
def inspector(tmp_path: Path) -> Iterator[Inspector]:
    home = tmp_path / "home"
    home.mkdir()
    client = Inspector(home)
    inspector_command()  # fails here, with how to install it, when the Inspector is missing
    try:
        yield client
    finally:
        client.stop_all()


@pytest.mark.parametrize("era", ["legacy", "modern"])  # the handshake (2025-11-25), and 2026-07-28
def test_tools_list_over_stdio(inspector: Inspector, era: str) -> None:
    printed = inspector("--method", "tools/list", "--protocol-era", era)
    assert printed.returncode == 0, printed.stderr[-3000:]
    names = {tool["name"] for tool in printed.json()["tools"]}
    assert {"create_sandbox", "start_session", "execute_code", "terminate_sandbox"} <= names


def test_a_sandbox_lives_on_from_one_inspector_call_to_the_next(inspector: Inspector) -> None:
    """Each invocation is a new server process; the sandbox the first one made must serve the next ones."""
    created = inspector.call("create_sandbox", {"name": "inspector"})
    assert created.returncode == 0 and not created.json().get("isError"), created.stdout + created.stderr[-2000:]
    sandbox_id = created.find(SANDBOX)
    session = inspector.call("start_session", {"sandbox_id": sandbox_id})
    assert session.returncode == 0 and not session.json().get("isError"), (
        f"start_session on {sandbox_id}, made by the previous invocation: the Inspector printed {session.stdout!r}")
    session_id = session.find(SESSION)
    ran = inspector.call("execute_code", {"session_id": session_id, "code": "print('hello-from-inspector')"})
    assert ran.returncode == 0 and not ran.json().get("isError"), ran.stdout
    assert "hello-from-inspector" in ran.text(), ran.stdout
    ended = inspector.call("terminate_sandbox", {"sandbox_id": sandbox_id})
    assert ended.returncode == 0, ended.stdout


# ----- HTTP ---------------------------------------------------------------------

@dataclass
class HttpServer:
    url: str
    token: str


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[HttpServer]:
    """`seer-mcp serve --http` with a token of our choosing, under its own throwaway HOME."""
    port, token = free_port(), "interop-" + os.urandom(8).hex()
    home = tmp_path / "server-home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "SEER_STATE_DIR": str(home / "state"),
           "SEER_OUTPUTS_DIR": str(home / "outputs"), "SEER_HTTP_TOKEN": token}
    proc = start_http_server(env, port, tmp_path / "http.err", cwd=home)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        yield HttpServer(url, token)
    finally:
        stop_http_server(proc)
        subprocess.run([PYTHON, "-m", "seer_mcp", "stop", "--all"], check=False, env=env, capture_output=True,
                       timeout=120)


def test_cells_over_http_with_a_bearer_header(inspector: Inspector, http_server: HttpServer) -> None:
    target = [http_server.url, "--header", f"Authorization: Bearer {http_server.token}"]
    listed = inspector("--method", "tools/list", target=target)
    assert listed.returncode == 0, listed.stdout + listed.stderr[-2000:]
    assert "execute_code" in {tool["name"] for tool in listed.json()["tools"]}

    created = inspector.call("create_sandbox", {"name": "inspector-http"}, target=target)
    sandbox_id = created.find(SANDBOX)
    session = inspector.call("start_session", {"sandbox_id": sandbox_id}, target=target)
    session_id = session.find(SESSION)
    cells = {
        "hello": "print('hello-from-inspector')",
        "plot": "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nprint('plot-caption-text')\nplt.show()",
        "error": "raise ValueError('bad value')",
    }
    printed = {label: inspector.call("execute_code", {"session_id": session_id, "code": code}, target=target)
               for label, code in cells.items()}
    say("\n[inspector over HTTP] characters printed per cell: "
        + json.dumps({label: len(p.stdout) for label, p in printed.items()}))

    assert printed["hello"].returncode == 0 and "hello-from-inspector" in printed["hello"].text(), printed["hello"]
    plot = printed["plot"].json()
    assert [b for b in plot["content"] if b["type"] == "image"], printed["plot"].stdout[:3000]
    assert "plot-caption-text" in printed["plot"].text(), printed["plot"].stdout[:3000]
    error = printed["error"]
    assert error.json().get("isError") is True, error.stdout
    assert "ValueError: bad value" in error.text() and "raise ValueError('bad value')" in error.text(), error.stdout
    # The Inspector prints the whole result, content and structuredContent: the output should be there once.
    for label, needle in (("hello", "hello-from-inspector"), ("plot", "plot-caption-text")):
        assert printed[label].stdout.count(needle) == 1, f"{needle!r} printed more than once: {printed[label].stdout!r}"

    ended = inspector.call("terminate_sandbox", {"sandbox_id": sandbox_id}, target=target)
    assert ended.returncode == 0, ended.stdout


@pytest.mark.parametrize("header", [None, "Authorization: Bearer not-the-token"], ids=["no-token", "wrong-token"])
def test_http_without_the_right_token_is_refused(inspector: Inspector, http_server: HttpServer,
                                                 header: str | None) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if header:
        name, _, value = header.partition(": ")
        headers[name] = value
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    assert httpx.post(http_server.url, json=body, headers=headers).status_code == 401

    refused = refused_inspector(inspector, http_server, header)
    assert refused.returncode != 0, refused.stdout
    assert _envelope(refused)["code"] == "auth_required", refused.stderr


@pytest.mark.parametrize("header", [None, "Authorization: Bearer not-the-token"], ids=["no-token", "wrong-token"])
def test_a_refused_inspector_user_is_told_which_header_to_send(inspector: Inspector, http_server: HttpServer,
                                                               header: str | None) -> None:
    refused = refused_inspector(inspector, http_server, header)
    assert "Authorization: Bearer" in _envelope(refused)["message"], refused.stderr


def refused_inspector(inspector: Inspector, http_server: HttpServer, header: str | None) -> Printed:
    # --stored-auth-only: no interactive OAuth login (which needs a terminal) when the server answers 401.
    return inspector("--method", "tools/list",
                     target=[http_server.url, *(["--header", header] if header else []), "--stored-auth-only"])


def _envelope(printed: Printed) -> dict[str, Any]:
    """The error the Inspector prints on stderr, last: {"error": {"code", "message"}}."""
    lines = printed.stderr.strip().splitlines()
    try:
        return json.loads(lines[-1])["error"]
    except (IndexError, json.JSONDecodeError, KeyError):
        raise AssertionError(f"no error envelope on stderr: {printed.stderr[-2000:]!r}") from None
