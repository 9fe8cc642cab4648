"""A local sandbox attacked from inside: a cell or a shell command hunts for what must stay outside.

The operator's environment holds fake keys, the HF cache and the repo hold marker files, a
hidden model sits in a folder whose name must not leak, and a second sandbox runs beside the
first. Each probe runs from the agent's side (execute_code, sandbox_exec, an interface) and
asserts it finds nothing; where a probe could pass for the wrong reason, a control shows that
the same probe does find what is there.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from fastmcp import Client

from seer_mcp.isolation.host import system_mounts
from seer_mcp.isolation.mode import probe
from seer_mcp.isolation.plan import IsolationPlan, Mount
from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.conftest import output_of, status_of, text_of
from tests.toolkit.conftest import build_tokenizer, tiny_llama

pytestmark = pytest.mark.slow

OPERATOR_SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-fake-OPERATORKEY-1",
    "OPENAI_API_KEY": "sk-fake-OPERATORKEY-2",
    "AWS_SECRET_ACCESS_KEY": "fake-OPERATORKEY-3",
    "HF_TOKEN": "hf_fake_OPERATORKEY_4",
    "MODAL_TOKEN_SECRET": "as-fake-OPERATORKEY-5",
}
HIDDEN_NAME = "acme-HIDDENORGANISM-9"


@pytest.fixture(autouse=True)
def operator_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name, value in OPERATOR_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GRANTED_SECRET", "granted-value-42")
    hf_home = tmp_path / "hf-home"
    (hf_home / "hub").mkdir(parents=True)
    (hf_home / "hub" / "MARKER-HFCACHE").write_text("cache")
    monkeypatch.setenv("HF_HOME", str(hf_home))
    return hf_home


@pytest.fixture
async def client(settings: Settings) -> Any:
    """The suite's server, with one secret the operator lets agents hand to sandboxes."""
    async with Client(build_server(settings.model_copy(update={"agent_secrets": ["GRANTED_SECRET"]}))) as mcp:
        yield mcp


@pytest.fixture(scope="module")
def hidden_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("zoo") / HIDDEN_NAME
    tiny_llama().save_pretrained(folder)
    build_tokenizer().save_pretrained(folder)
    return folder


async def sh(client: Client, command: str, sandbox_id: str | None = None) -> str:
    args: dict[str, Any] = {"command": command, "timeout": 120}
    if sandbox_id:
        args["sandbox_id"] = sandbox_id
    return output_of(await client.call_tool("sandbox_exec", args))


async def cell(client: Client, code: str, session_id: str) -> str:
    return output_of(await client.call_tool("execute_code", {"code": code, "session_id": session_id}))


async def create(client: Client, **spec: Any) -> dict[str, Any]:
    return (await client.call_tool("create_sandbox", spec)).structured_content


def tokens(settings: Settings) -> list[str]:
    with sqlite3.connect(settings.database_path) as db:
        return [json.loads(handle)["token"] for (handle,) in db.execute("SELECT handle FROM sandboxes")]


async def test_the_operators_environment_stays_out_and_the_spec_gets_exactly_what_it_names(
        client: Client, settings: Settings) -> None:
    sandbox = await create(client, env={"MY_SETTING": "on"}, secrets=["GRANTED_SECRET"])
    assert sandbox["isolation"] == "namespaces"
    session = (await client.call_tool("start_session", {})).structured_content["session_id"]
    seen = await cell(client, "import os, json; print(json.dumps(dict(os.environ)))", session)
    env = json.loads(seen)
    assert env["MY_SETTING"] == "on" and env["GRANTED_SECRET"] == "granted-value-42"
    shell = await sh(client, "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'")
    for text in (seen, shell):
        for value in OPERATOR_SECRETS.values():
            assert value not in text
        assert "SEER_AGENT_TOKEN" not in text and "HF_HOME" not in text
        for token in tokens(settings):
            assert token not in text
    assert "granted-value-42" in shell  # the control: the probe does see what the sandbox was given


async def test_the_host_other_sandboxes_and_the_hidden_models_source_are_not_there(
        client: Client, settings: Settings, hidden_model: Path, operator_environment: Path) -> None:
    other = await create(client, name="neighbour")
    await sh(client, "echo neighbours-note > neighbour-MARKER.txt", other["sandbox_id"])
    mine = await create(client, models=[{"name": str(hidden_model), "hidden": True, "preload": False}])
    workspace = mine["workspace_path"]
    sid = mine["sandbox_id"]
    home = await sh(client, f"ls -A {Path.home()} 2>&1", sid)  # at most the folders above mounted paths
    assert not {".ssh", ".cache", ".config", ".bashrc", ".local"} & set(home.split())
    # Folders above mounted paths exist, holding only the way down to them.
    assert (await sh(client, f"ls -A {settings.state_dir}", sid)).split() == ["sandboxes"]
    assert (await sh(client, f"ls -A {settings.sandboxes_dir}", sid)).split() == [sid]
    assert not {"logs", "kernelspecs"} & set((await sh(client, f"ls -A {settings.sandboxes_dir / sid}", sid)).split())
    repo = set((await sh(client, f"ls -A {Path.cwd()} 2>&1", sid)).split())
    assert not {"configs", ".env", ".git", "organism", "tests", "README.md"} & repo  # only the mounted packages
    for folder in (operator_environment, hidden_model.parent, f"{settings.database_path}-wal"):
        assert "No such file or directory" in await sh(client, f"ls {folder} 2>&1", sid), folder
    hunt = ("find / -path /proc -prune -o \\( -name '*MARKER*' -o -name '*HIDDENORGANISM*' -o -name 'state.sqlite*' "
            "-o -name http-token -o -name .env -o -name agent.sock \\) -print 2>/dev/null; "
            f"find / -path /proc -prune -o -samefile {workspace}/../models/model_0/config.json -print 2>/dev/null")
    found = (await sh(client, hunt, sid)).strip().splitlines()
    assert found == [f"{Path(workspace).parent}/models/model_0/config.json"]  # the opaque folder, and only it
    processes = await sh(client, "cat /proc/*/cmdline 2>/dev/null | tr '\\0' ' '; ps -eo pid,args", sid)
    assert "HIDDENORGANISM" not in processes and other["sandbox_id"] not in processes
    # Neither the agent, nor the server (this test's own process), nor anything else of the host is in view.
    assert "seer_mcp.agent --root" not in processes and "-m pytest" not in processes and "bwrap" in processes
    # The kernels' connection files, which the agent writes, are read-only inside: none can be swapped for a link.
    swap = await sh(client, "for d in $(find / -path /proc -prune -o -type d -name kc -print); do "
                            "ls $d/*.json >/dev/null && ln -sf /etc/passwd $d/new.json; done 2>&1", sid)
    assert "Read-only file system" in swap
    # The control: the model itself is there, under its opaque folder.
    assert "config.json" in await sh(client, f"ls {workspace}/../models/model_0", mine["sandbox_id"])


async def test_a_kernel_cannot_reach_another_sandboxs_agent_even_with_its_token(
        client: Client, settings: Settings) -> None:
    victim = await create(client, name="victim")
    attacker = await create(client, name="attacker")
    with sqlite3.connect(settings.database_path) as db:
        handles = {sid: json.loads(h) for sid, h in db.execute("SELECT sandbox_id, handle FROM sandboxes")}
    victim_socket, victim_token = handles[victim["sandbox_id"]]["socket"], handles[victim["sandbox_id"]]["token"]
    session = (await client.call_tool("start_session", {"sandbox_id": attacker["sandbox_id"]})).structured_content
    code = textwrap.dedent(f"""
        import socket
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect({victim_socket!r})
            s.sendall(b"POST /exec HTTP/1.1\\r\\nHost: a\\r\\nAuthorization: Bearer {victim_token}\\r\\n"
                      b"Content-Type: application/json\\r\\nContent-Length: 20\\r\\n\\r\\n" + b'{{"command": "id"}}  ')
            print("REACHED", s.recv(200))
        except OSError as e:
            print("refused:", type(e).__name__)
    """)
    assert (await cell(client, code, session["session_id"])).strip().startswith("refused:")


async def test_every_process_a_sandbox_started_ends_on_terminate(client: Client) -> None:
    sandbox = await create(client)
    marker = f"seer-detach-{uuid.uuid4().hex[:8]}"
    sleeper = "python -c 'import time; time.sleep(1000)'"
    daemon = ("python -c \"import os, sys\nif os.fork() == 0:\n os.setsid()\n if os.fork() == 0:\n"
              f"  os.execvp(sys.executable, [sys.executable, '-c', 'import time; time.sleep(1000)', '{marker}-daemon'])\"")
    await sh(client, f"setsid {sleeper} {marker}-setsid & nohup {sleeper} {marker}-nohup >/dev/null 2>&1 & "
                     f"{daemon}; sleep 0.5")
    session = (await client.call_tool("start_session", {})).structured_content["session_id"]
    await cell(client, "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; "
                       f"time.sleep(1000)', '{marker}-kernel'], start_new_session=True)", session)
    time.sleep(0.5)

    def strays() -> list[str]:
        return [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])
                if marker in " ".join(p.info["cmdline"] or [])]

    assert len(strays()) == 4  # the control: all four detached and are running
    await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox["sandbox_id"]})
    deadline = time.monotonic() + 10
    while strays() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert strays() == []


class _Listener:
    """A TCP server on the host's loopback, to be reached (or not) from inside."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.sendall(b"hello-from-host")
            conn.close()


async def test_network_false_leaves_the_sandbox_no_network(client: Client) -> None:
    listener = _Listener()
    probe_code = (f"python -c \"import socket; s = socket.create_connection(('127.0.0.1', {listener.port}), 3); "
                  "print(s.recv(50))\" 2>&1 | tail -1")
    online = await create(client, name="online")
    assert "hello-from-host" in await sh(client, probe_code, online["sandbox_id"])  # the control
    offline = await create(client, name="offline", network=False)
    out = await sh(client, probe_code + "; cat /proc/net/dev", offline["sandbox_id"])
    assert "hello-from-host" not in out and ("refused" in out or "unreachable" in out)
    assert "eth" not in out  # only the namespace's own loopback
    listener.sock.close()


async def test_a_kernel_over_the_memory_limit_is_reported_dead_and_restarts(client: Client) -> None:
    await create(client, memory=400)
    session = (await client.call_tool("start_session", {})).structured_content["session_id"]
    small = await client.call_tool("execute_code", {"code": "x = bytearray(50 * 2**20); print('fine')",
                                                    "session_id": session})
    assert output_of(small).strip() == "fine"  # the control: memory within the limit is usable
    big = await client.call_tool("execute_code", {"code": "y = [bytearray(2**20) for _ in range(1200)]",
                                                  "session_id": session}, raise_on_error=False)
    assert " · dead · " in status_of(big)
    assert "memory limit (400 MiB)" in text_of(big)
    await client.call_tool("restart_kernel", {"session_id": session})
    again = await client.call_tool("execute_code", {"code": "print(1 + 1)", "session_id": session})
    assert output_of(again).strip() == "2"


async def test_an_interface_worker_runs_inside_the_sandbox(client: Client) -> None:
    await create(client)
    code = textwrap.dedent("""
        import os
        @expose
        def look() -> str:
            return open('/proc/1/cmdline').read().split('\\0')[0] + ' ' + ' '.join(sorted(os.environ))
    """)
    await client.call_tool("serve_interface", {"name": "spy", "code": code})
    seen = text_of(await client.call_tool("call_interface", {"name": "spy", "function": "look", "arguments": {}}))
    assert "bwrap" in seen and "OPERATOR" not in seen and "ANTHROPIC_API_KEY" not in seen


# ----- where bubblewrap cannot run ---------------------------------------------------------


async def test_without_bubblewrap_auto_warns_and_hidden_models_are_refused(
        settings: Settings, hidden_model: Path) -> None:
    fallback = settings.model_copy(update={"bwrap": "/nonexistent/bwrap", "isolation": "auto"})
    async with Client(build_server(fallback)) as client:
        created = await client.call_tool("create_sandbox", {})
        record = created.structured_content
        assert record["isolation"] == "none" and "not isolated" in record["warning"]
        assert "not isolated" in text_of(created)
        listed = (await client.call_tool("list_sandboxes", {})).structured_content
        assert "not isolated" in json.dumps(listed)
        env = await sh(client, "env")
        assert "OPERATORKEY" not in env  # the environment is an allowlist at every level
        refused = await client.call_tool("create_sandbox", {"models": [{"name": str(hidden_model),
                                                                        "hidden": True}]}, raise_on_error=False)
        assert refused.is_error and "hidden models (model) need an isolated sandbox" in text_of(refused)
        offline = await client.call_tool("create_sandbox", {"network": False}, raise_on_error=False)
        assert offline.is_error and "network=false needs an isolated sandbox" in text_of(offline)
    strict = settings.model_copy(update={"bwrap": "/nonexistent/bwrap", "isolation": "namespaces"})
    async with Client(build_server(strict)) as client:
        failed = await client.call_tool("create_sandbox", {}, raise_on_error=False)
        assert failed.is_error and "SEER_ISOLATION=namespaces, but bubblewrap" in text_of(failed)


async def test_without_namespaces_detached_processes_still_end_on_terminate(settings: Settings) -> None:
    async with Client(build_server(settings.model_copy(update={"isolation": "none"}))) as client:
        sandbox = await create(client)
        marker = f"seer-plain-{uuid.uuid4().hex[:8]}"
        await sh(client, "python -c \"import os, sys\nif os.fork() == 0:\n os.setsid()\n if os.fork() == 0:\n"
                         "  os.execve(sys.executable, [sys.executable, '-c', 'import time; time.sleep(1000)', "
                         f"'{marker}'], {{}})\"; sleep 0.5")
        assert any(marker in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))
        await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox["sandbox_id"]})
        time.sleep(0.5)
        assert not any(marker in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))


def test_an_unprivileged_user_gets_a_user_namespace(tmp_path: Path) -> None:
    """The non-root path: the same plan, run by an ordinary user, through a user namespace."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user; the suite's non-root run covers this directly")
    assert probe("bwrap") == ""
    workspace = Path(tempfile.mkdtemp(prefix="seer-nobody-"))  # /tmp is open to every user; tmp_path is not
    os.chown(workspace, 65534, 65534)
    plan = IsolationPlan(bwrap="bwrap", mounts=system_mounts() + [Mount(target=str(workspace), kind="rw")],
                         user_namespace=True, workdir=str(workspace))
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *plan.argv(), "--",
                           "/bin/sh", "-c", "id -u; echo ok > note; ls /root 2>&1; cat /proc/1/status | grep ^Uid"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "65534"
    assert (workspace / "note").read_text() == "ok\n"
    assert "No such file" in done.stdout
