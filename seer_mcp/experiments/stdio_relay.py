"""The stdio MCP server `seer-mcp run` gives its agent: a relay of bytes to the experiment's server.

`seer-mcp run` owns the `serve --experiment` process, so that however the agent's MCP client ends
its stdio server (Claude Code sends SIGINT, SIGTERM and SIGKILL within half a second), only this
relay ends, and the server still terminates its sandbox. Standard library only: it starts fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading

_CHUNK = 1 << 16


def relay(socket_path: str) -> int:
    """The agent's stdio MCP server: carries bytes between this process's stdin/stdout and the run's socket.

    The agent's client ends it with signals at its own pace; that ends only this relay.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # stopped by a signal, it has nothing to say
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(socket_path)

    def upstream() -> None:
        try:
            while chunk := os.read(0, _CHUNK):
                connection.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_WR)  # the client closed stdin: the session is over

    threading.Thread(target=upstream, name="relay-upstream", daemon=True).start()
    try:
        while chunk := connection.recv(_CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(1, view):]
    except OSError:
        pass  # the client went away
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m seer_mcp.experiments.stdio_relay SOCKET (started by seer-mcp run)")
    sys.exit(relay(sys.argv[1]))
