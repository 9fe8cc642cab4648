"""How the agent starts a sandbox's processes: in its namespaces through the launcher, or directly.

Both kinds hand back a process with the part of asyncio's Process interface
the agent uses (pid, returncode, wait, signals, stdin/stdout streams), so
kernels, shell commands and interface workers do not care which they got.
Every process starts in a session of its own, so a signal to its group
reaches everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from collections.abc import Sequence
from typing import IO, Any, Literal, Protocol

from seer_mcp.isolation.plan import IsolationPlan

Stream = Literal["pipe", "devnull"] | int | IO[Any] | None
_PIPE_LIMIT = 128 * 2**20  # one line of an interface worker may carry a large result


class SandboxProcess(Protocol):
    pid: int
    returncode: int | None
    stdin: asyncio.StreamWriter | None
    stdout: asyncio.StreamReader | None

    async def wait(self) -> int: ...
    def send_signal(self, signum: int) -> None: ...
    def signal_group(self, signum: int) -> None: ...
    def kill(self) -> None: ...


class Processes(Protocol):
    isolated: bool

    async def spawn(self, argv: list[str], *, env: dict[str, str], cwd: Path, stdin: Stream = "devnull",
                    stdout: Stream = "devnull", stderr: Stream = "devnull") -> SandboxProcess: ...

    async def close(self) -> None: ...


# ----- no isolation: plain child processes ----------------------------------


class _DirectProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self.pid = proc.pid
        self.stdin = proc.stdin
        self.stdout = proc.stdout

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def wait(self) -> int:
        return await self._proc.wait()

    def send_signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(signum)

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def kill(self) -> None:
        self.signal_group(signal.SIGKILL)


def _popen_stream(stream: Stream) -> Any:
    return {"pipe": asyncio.subprocess.PIPE, "devnull": asyncio.subprocess.DEVNULL}.get(stream, stream)  # type: ignore[arg-type]


class DirectProcesses:
    isolated = False

    async def spawn(self, argv: list[str], *, env: dict[str, str], cwd: Path, stdin: Stream = "devnull",
                    stdout: Stream = "devnull", stderr: Stream = "devnull") -> SandboxProcess:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=cwd, stdin=_popen_stream(stdin), stdout=_popen_stream(stdout),
            stderr=_popen_stream(stderr), start_new_session=True, limit=_PIPE_LIMIT)
        return _DirectProcess(proc)

    async def close(self) -> None:
        return None


# ----- namespaces: through the sandbox's launcher ----------------------------


class _LaunchedProcess:
    def __init__(self, launcher: "Launcher", pid: int) -> None:
        self._launcher = launcher
        self.pid = pid
        self.returncode: int | None = None
        self.stdin: asyncio.StreamWriter | None = None
        self.stdout: asyncio.StreamReader | None = None
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def _exit(self, returncode: int) -> None:
        self.returncode = returncode
        if not self._exited.done():
            self._exited.set_result(returncode)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def send_signal(self, signum: int) -> None:
        self._launcher.signal(self.pid, signum, group=False)

    def signal_group(self, signum: int) -> None:
        self._launcher.signal(self.pid, signum, group=True)

    def kill(self) -> None:
        self.signal_group(signal.SIGKILL)


class LauncherGone(RuntimeError):
    """The sandbox's launcher has exited: no process can start in this sandbox any more."""


class Launcher:
    """The agent's end of the launcher inside the sandbox's namespaces."""

    isolated = True

    def __init__(self, sock: socket.socket, proc: subprocess.Popen[bytes]) -> None:
        self._sock = sock
        self.proc = proc  # bubblewrap, as the host sees it
        self._ids = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._children: dict[int, _LaunchedProcess] = {}
        self._early_exits: dict[int, int] = {}
        self.gone = False
        asyncio.get_running_loop().add_reader(sock.fileno(), self._on_readable)

    @classmethod
    async def start(cls, plan: IsolationPlan, env: dict[str, str], log: IO[Any], timeout: float = 30) -> "Launcher":
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [*plan.argv(), "--", sys.executable, "-m", "seer_mcp.agent.spawner", str(theirs.fileno())]
        # Started from the event loop's thread, which lives as long as the agent: bubblewrap's
        # --die-with-parent follows the thread that started it.
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                pass_fds=(theirs.fileno(),), start_new_session=True)
        theirs.close()
        ours.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                data = await loop.sock_recv(ours, 65536)
        except TimeoutError:
            proc.kill()
            raise LauncherGone(f"the sandbox's launcher did not start within {timeout:g}s") from None
        if not data or json.loads(data).get("op") != "ready":
            proc.wait()
            raise LauncherGone(f"the sandbox's launcher exited while starting (bubblewrap exit {proc.returncode})")
        return cls(ours, proc)

    def _on_readable(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            self._handle(json.loads(data))

    def _handle(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op in ("spawned", "failed"):
            future = self._pending.pop(message["id"], None)
            if future is not None and not future.done():
                future.set_result(message)
        elif op == "exited":
            child = self._children.pop(message["pid"], None)
            if child is not None:
                child._exit(message["returncode"])
            else:  # exited before `spawn` registered it
                self._early_exits[message["pid"]] = message["returncode"]

    def _lost(self) -> None:
        self.gone = True
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
        for future in self._pending.values():
            if not future.done():
                future.set_exception(LauncherGone("the sandbox's launcher has exited"))
        for child in self._children.values():
            child._exit(-signal.SIGKILL)  # its namespace ended with the launcher
        self._pending.clear()
        self._children.clear()

    def _send(self, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
        if self.gone:
            raise LauncherGone("the sandbox's launcher has exited: terminate this sandbox and create a new one")
        socket.send_fds(self._sock, [json.dumps(message).encode()], list(fds))

    def signal(self, pid: int, signum: int, group: bool) -> None:
        with contextlib.suppress(LauncherGone, OSError):
            self._send({"op": "signal", "pid": pid, "signal": int(signum), "group": group})

    async def spawn(self, argv: list[str], *, env: dict[str, str], cwd: Path, stdin: Stream = "devnull",
                    stdout: Stream = "devnull", stderr: Stream = "devnull") -> SandboxProcess:
        loop = asyncio.get_running_loop()
        ends: list[int] = []  # what the child gets; closed here once sent
        keep: dict[str, int] = {}  # our ends of pipes
        for name, stream in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
            if stream == "pipe":
                read_end, write_end = os.pipe()
                ours, theirs = (write_end, read_end) if name == "stdin" else (read_end, write_end)
                keep[name] = ours
                ends.append(theirs)
            elif stream in ("devnull", None):
                ends.append(os.open(os.devnull, os.O_RDWR))
            else:
                ends.append(os.dup(stream if isinstance(stream, int) else stream.fileno()))  # type: ignore[union-attr]
        self._ids += 1
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[self._ids] = future
        try:
            self._send({"op": "spawn", "id": self._ids, "argv": argv, "env": env, "cwd": str(cwd)}, ends)
        except BaseException:
            self._pending.pop(self._ids, None)
            for fd in keep.values():
                os.close(fd)
            raise
        finally:
            for fd in ends:
                os.close(fd)
        reply = await future
        if reply["op"] == "failed":
            for fd in keep.values():
                os.close(fd)
            raise OSError(f"could not start {argv[0]} in the sandbox: {reply['error']}")
        child = _LaunchedProcess(self, reply["pid"])
        if reply["pid"] in self._early_exits:
            child._exit(self._early_exits.pop(reply["pid"]))
        else:
            self._children[child.pid] = child
        if "stdin" in keep:
            transport, protocol = await loop.connect_write_pipe(
                lambda: asyncio.streams.FlowControlMixin(loop=loop), os.fdopen(keep["stdin"], "wb", 0))
            child.stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        if "stdout" in keep:
            reader = asyncio.StreamReader(limit=_PIPE_LIMIT, loop=loop)
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
                                         os.fdopen(keep["stdout"], "rb", 0))
            child.stdout = reader
        return child

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()  # the launcher kills what it started and exits; its namespace ends
        try:
            await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 5)
        except TimeoutError:
            self.proc.kill()
