"""Shell commands in the sandbox, with a timeout and a cap on kept output.

A command runs in its own process group, so a timeout kills everything it
started. Output beyond the cap keeps its head and its tail (errors are
usually at the end); the server then cuts it to the agent's budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from seer_mcp.wire import ExecResult

DEFAULT_KEEP_BYTES = 2_000_000  # per stream, head and tail together


class HeadTailBuffer:
    """Keeps the first and the last `keep // 2` bytes of a stream."""

    def __init__(self, keep: int) -> None:
        self._half = keep // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def write(self, chunk: bytes) -> None:
        room = self._half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail += chunk
        excess = len(self.tail) - self._half
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def text(self) -> str:
        if not self.dropped:
            return (self.head + self.tail).decode(errors="replace")
        marker = f"\n... [{self.dropped:,} bytes dropped] ...\n"
        return self.head.decode(errors="replace") + marker + self.tail.decode(errors="replace")


async def _pump(stream: asyncio.StreamReader, buffer: HeadTailBuffer) -> None:
    while chunk := await stream.read(65536):
        buffer.write(chunk)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_command(command: str, *, cwd: Path, env: dict[str, str], timeout: float,
                      keep_bytes: int = DEFAULT_KEEP_BYTES) -> ExecResult:
    """Run `command` with bash; kill its whole process group at `timeout`."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/bash", "-c", command, cwd=cwd, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    out, err = HeadTailBuffer(keep_bytes), HeadTailBuffer(keep_bytes)
    assert proc.stdout is not None and proc.stderr is not None
    pumps = asyncio.gather(_pump(proc.stdout, out), _pump(proc.stderr, err), proc.wait())
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(pumps), timeout)
    except asyncio.TimeoutError:
        timed_out = True
        _kill_group(proc.pid)
        # Background children may hold the pipes open; the group kill closes them.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(pumps, 5)
    except asyncio.CancelledError:
        _kill_group(proc.pid)
        raise
    finally:
        if proc.returncode is None:
            _kill_group(proc.pid)
    return ExecResult(
        exit_code=proc.returncode if not timed_out else None,
        stdout=out.text(), stderr=err.text(), timed_out=timed_out,
        truncated=bool(out.dropped or err.dropped),
    )
