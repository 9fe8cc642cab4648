"""The sandbox's launcher: `python -m seer_mcp.agent.spawner FD`, run inside the sandbox's namespaces.

The sandbox agent stays outside (it holds the token, the notebooks' mirror and
the logs) and asks this process, over the SOCK_SEQPACKET socket FD, to start
kernels, shell commands and interface workers. So every process of a sandbox
is a descendant of this one, inside one set of namespaces, and shares its
view of the machine; when the agent goes, this process and the namespace go
with it (no process survives its PID namespace's end).

Messages are JSON; a spawn request carries the child's stdin, stdout and
stderr as file descriptors (SCM_RIGHTS). Replies and exit reports carry the
child's pid as the sandbox sees it.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
from typing import Any

MAX_MESSAGE = 1 << 20


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode())


class Launcher:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ, None)
        self.children: dict[int, int] = {}  # pid -> pidfd

    def run(self) -> None:
        send(self.sock, {"op": "ready", "pid": os.getpid()})
        while True:
            for key, _ in self.selector.select():
                if key.data is None:
                    if not self._serve_one():
                        self._kill_all()
                        return
                else:
                    self._reap(key.data)

    def _serve_one(self) -> bool:
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 8)
        except OSError:
            return False
        if not data:
            return False  # the agent is gone
        try:
            message = json.loads(data)
            op = message["op"]
            if op == "spawn":
                self._spawn(message, fds)
            elif op == "signal":
                self._signal(message)
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def _spawn(self, message: dict[str, Any], fds: list[int]) -> None:
        stdin, stdout, stderr = fds[:3]
        try:
            proc = subprocess.Popen(message["argv"], env=message["env"], cwd=message.get("cwd"),
                                    stdin=stdin, stdout=stdout, stderr=stderr, close_fds=True,
                                    start_new_session=True)
        except OSError as exc:
            send(self.sock, {"op": "failed", "id": message["id"], "error": f"{type(exc).__name__}: {exc}"})
            return
        proc.returncode = 0  # reaped below with waitpid, not by Popen; stops its __del__ warning
        pidfd = os.pidfd_open(proc.pid)
        self.children[proc.pid] = pidfd
        self.selector.register(pidfd, selectors.EVENT_READ, proc.pid)
        send(self.sock, {"op": "spawned", "id": message["id"], "pid": proc.pid})

    def _signal(self, message: dict[str, Any]) -> None:
        pid, signum = int(message["pid"]), int(message["signal"])
        if pid not in self.children:
            return
        try:
            if message.get("group"):
                os.killpg(pid, signum)
            else:
                os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _reap(self, pid: int) -> None:
        pidfd = self.children.pop(pid)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        send(self.sock, {"op": "exited", "pid": pid, "returncode": os.waitstatus_to_exitcode(status)})

    def _kill_all(self) -> None:
        for pid in self.children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def main() -> None:
    fd = int(sys.argv[1])
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)
    Launcher(sock).run()


if __name__ == "__main__":
    main()
