"""Ctrl-C and SIGTERM stop a stdio server the way a closed stdin does: cleanly.

The MCP SDK reads stdin in a worker thread that cancellation cannot interrupt. A signal that
only cancelled the event loop's task left the server waiting for a line that never came
(Ctrl-C looked ignored), and SIGTERM's default action killed it before its lifespan could
terminate the local sandboxes. So stdin is relayed through a pipe this process owns; a signal
closes that pipe, the SDK reads EOF, and the server shuts down through its usual path. A
second signal exits at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def relay_stdin() -> Callable[[], None]:
    """Put a pipe this process owns in front of fd 0; returns `close`, which gives its reader EOF.

    `close` points the pipe's write end at /dev/null instead of closing it, so the relay
    thread can never write into an unrelated file that reused the descriptor number.
    """
    source = os.dup(0)
    read_end, write_end = os.pipe()
    os.dup2(read_end, 0)
    os.close(read_end)
    closed = threading.Event()

    def relay() -> None:
        try:
            while not closed.is_set():
                chunk = os.read(source, 1 << 16)
                if not chunk:
                    break
                view = memoryview(chunk)
                while view and not closed.is_set():
                    view = view[os.write(write_end, view):]
        except OSError:
            pass  # the reader went away: nothing left to relay to
        finally:
            close()

    def close() -> None:
        if closed.is_set():
            return
        closed.set()
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, write_end)  # drops the pipe's only write end: the reader sees EOF
        finally:
            os.close(null)

    threading.Thread(target=relay, name="stdin-relay", daemon=True).start()
    return close


def stop_on_signals(close_stdin: Callable[[], None]) -> None:
    """SIGINT / SIGTERM close stdin (a clean stop); a second one exits at once."""
    handle = signal_stopper(close_stdin)
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, frame: handle(signum))


def signal_stopper(close_input: Callable[[], None]) -> Callable[[int], None]:
    """A handler for STOP_SIGNALS: the first ends the input (a clean stop), a second exits at once."""
    received: list[int] = []

    def handle(signum: int) -> None:
        if received:
            print("seer-mcp: second signal, exiting at once", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        received.append(signum)
        print(f"seer-mcp: {signal.Signals(signum).name}: stopping; send it again to exit at once",
              file=sys.stderr, flush=True)
        close_input()

    return handle
