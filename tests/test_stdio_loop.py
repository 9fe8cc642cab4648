"""`seer-mcp serve` over stdio as a client process sees it: raw JSON-RPC lines on pipes and files.

Pipes (what every MCP client gives the server it starts) are served on the event loop; a file
or terminal on stdin goes through the SDK's own transport. Both must speak the same protocol.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import time
import tty
from pathlib import Path
from typing import Any

import pytest

from seer_mcp.settings import Settings
from tests.conftest import PYTHON, sandbox_processes, server_env

pytestmark = pytest.mark.slow

_INITIALIZE = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
               "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                          "clientInfo": {"name": "raw-lines", "version": "0"}}}
_INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def _call(request_id: int, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}}


def _text(reply: dict[str, Any]) -> str:
    """What a client shows its model of a tool's reply: its text blocks."""
    return "\n".join(block["text"] for block in reply["result"]["content"] if block["type"] == "text")


class _Wire:
    """A server process on two pipes (or, with `terminal`, on a raw pty), read a line at a time with a deadline."""

    def __init__(self, settings: Settings, stderr_path: Path, terminal: bool = False) -> None:
        self._errlog = open(stderr_path, "w")
        command = [PYTHON, "-m", "seer_mcp", "serve"]
        if terminal:
            self._ours, theirs = pty.openpty()
            tty.setraw(theirs)  # no echo, no newline translation: the bytes as written
            self.process = subprocess.Popen(command, env=server_env(settings), stdin=theirs, stdout=theirs,
                                            stderr=self._errlog)
            os.close(theirs)
            self._to_server = self._from_server = self._ours
        else:
            self._ours = None
            self.process = subprocess.Popen(command, env=server_env(settings), stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=self._errlog)
            assert self.process.stdin is not None and self.process.stdout is not None
            self._to_server, self._from_server = self.process.stdin.fileno(), self.process.stdout.fileno()
        self._pending = b""

    def send(self, message: dict[str, Any]) -> None:
        line = memoryview(json.dumps(message).encode() + b"\n")
        while line:
            line = line[os.write(self._to_server, line):]

    def reply(self, request_id: int, timeout: float = 60) -> dict[str, Any]:
        """The response to `request_id`, skipping notifications the server sends meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" not in self._pending:
                left = deadline - time.monotonic()
                assert left > 0, f"no reply to request {request_id} within {timeout} s"
                ready, _, _ = select.select([self._from_server], [], [], left)
                if ready:
                    chunk = os.read(self._from_server, 1 << 20)
                    assert chunk, "the server closed its stdout"
                    self._pending += chunk
            line, self._pending = self._pending.split(b"\n", 1)
            message = json.loads(line)
            if message.get("id") == request_id:
                return message

    def start(self) -> None:
        self.send(_INITIALIZE)
        assert self.reply(0)["result"]["serverInfo"]["name"]
        self.send(_INITIALIZED)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self._ours is not None:
            os.close(self._ours)
        self._errlog.close()


@pytest.fixture
def wire(settings: Settings, tmp_path: Path):
    served = _Wire(settings, tmp_path / "server.err")
    try:
        yield served
    finally:
        served.close()


def test_a_message_of_megabytes_crosses_the_pipe_whole(wire: _Wire) -> None:
    wire.start()
    wire.send(_call(1, "create_sandbox", {}))
    assert not wire.reply(1)["result"].get("isError")
    wire.send(_call(2, "start_session", {}))
    assert not wire.reply(2)["result"].get("isError")
    big = "ab" * (3 << 20)  # 6 MiB in one line each way: far past any stream reader's default limit
    wire.send(_call(3, "execute_code", {"code": f"big = {big!r}\nprint(len(big), big[-4:])"}))
    assert f"{len(big)} abab" in _text(wire.reply(3))
    wire.send(_call(4, "execute_code", {"code": "print(big)"}))
    assert _text(wire.reply(4)).count("ab") >= 1 << 12  # a long output comes back whole or cut, as one line


def test_requests_sent_back_to_back_are_each_answered(wire: _Wire) -> None:
    wire.start()
    for request_id in range(1, 41):  # written before any reply is read: several lines per read
        wire.send(_call(request_id, "list_sandboxes", {}))
    for request_id in range(1, 41):
        assert "sandboxes" in _text(wire.reply(request_id))


def test_a_client_that_stops_reading_stops_the_server_and_its_sandboxes(wire: _Wire) -> None:
    wire.start()
    wire.send(_call(1, "create_sandbox", {}))
    sandbox_id = json.loads(_text(wire.reply(1)))["sandbox_id"]
    assert sandbox_processes(sandbox_id)
    assert wire.process.stdout is not None
    wire.process.stdout.close()  # the client is gone as a reader, though our stdin stays open
    wire.send(_call(2, "list_sandboxes", {}))
    wire.process.wait(30)  # raises if the server keeps serving into nowhere
    deadline = time.monotonic() + 10
    while sandbox_processes(sandbox_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sandbox_processes(sandbox_id) == []


def test_a_terminal_is_served_by_the_sdks_transport(settings: Settings, tmp_path: Path) -> None:
    # Someone typing requests at `seer-mcp serve`: a tty on both ends, not pipes. Ctrl-C's path is
    # the relay in front of the SDK's reader, and it must still stop the server and its sandboxes.
    wire = _Wire(settings, tmp_path / "server.err", terminal=True)
    try:
        wire.start()
        wire.send(_call(1, "create_sandbox", {}))
        sandbox_id = json.loads(_text(wire.reply(1)))["sandbox_id"]
        wire.send(_call(2, "list_sandboxes", {}))
        assert sandbox_id in _text(wire.reply(2))
        wire.process.send_signal(signal.SIGINT)
        wire.process.wait(30)
    finally:
        wire.close()
    assert sandbox_processes(sandbox_id) == []
    assert "stopping" in (tmp_path / "server.err").read_text()


def test_which_stdios_the_event_loop_serves(tmp_path: Path) -> None:
    probe = "from seer_mcp.server.stdio_loop import pipes_on_both_ends; print(pipes_on_both_ends())"

    pipes = subprocess.run([PYTHON, "-c", probe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, timeout=60)
    assert pipes.stdout.decode().strip() == "True"
    ours, theirs = socket.socketpair()  # how Node's child_process hands a child its stdio
    ours_out, theirs_out = socket.socketpair()
    with ours, theirs, ours_out, theirs_out:
        subprocess.run([PYTHON, "-c", probe], stdin=theirs, stdout=theirs_out, timeout=60, check=True)
        theirs_out.close()
        assert ours_out.recv(100).decode().strip() == "True"
    one, other = socket.socketpair()  # one socket on both ends (inetd's way): left to the SDK
    with one, other:
        subprocess.run([PYTHON, "-c", probe], stdin=other, stdout=other, timeout=60, check=True)
        other.close()
        assert one.recv(100).decode().strip() == "False"
    with open(os.devnull) as null, open(tmp_path / "answer", "w") as answer:  # /dev/null in, a file out
        subprocess.run([PYTHON, "-c", probe], stdin=null, stdout=answer, timeout=60, check=True)
    assert (tmp_path / "answer").read_text().strip() == "False"
