"""Shell commands in the sandbox, with a timeout and a cap on kept output.

A command runs in its own process group, so a timeout kills everything it
started; jobs it leaves in the background (`cmd &`) run on, as in a terminal,
until the sandbox is terminated. Output goes to unnamed temporary files rather
than pipes: a background job holding a pipe open would otherwise keep the
command from ever finishing. Output beyond the cap keeps its head and its tail
(errors are usually at the end); the server then cuts it to the agent's budget.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from pathlib import Path
from typing import IO

from seer_mcp.agent.processes import DirectProcesses, Processes
from seer_mcp.wire import ExecResult

DEFAULT_KEEP_BYTES = 2_000_000  # per stream, head and tail together


def head_and_tail(f: IO[bytes], keep: int) -> tuple[str, int]:
    """The first and last `keep // 2` bytes of a file, and how many bytes were dropped between."""
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    if size <= keep:
        return f.read().decode(errors="replace"), 0
    half = keep // 2
    head = f.read(half)
    f.seek(size - half)
    tail = f.read(half)
    dropped = size - 2 * half
    marker = f"\n... [{dropped:,} bytes dropped] ...\n"
    return head.decode(errors="replace") + marker + tail.decode(errors="replace"), dropped


async def run_command(command: str, *, cwd: Path, env: dict[str, str], timeout: float,
                      keep_bytes: int = DEFAULT_KEEP_BYTES, processes: Processes | None = None) -> ExecResult:
    """Run `command` with bash; kill its whole process group at `timeout`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = await (processes or DirectProcesses()).spawn(["/bin/bash", "-c", command], cwd=cwd, env=env,
                                                            stdout=out, stderr=err)
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            timed_out = True
            proc.signal_group(signal.SIGKILL)
            await proc.wait()
        except asyncio.CancelledError:
            proc.signal_group(signal.SIGKILL)
            raise
        stdout, dropped_out = head_and_tail(out, keep_bytes)
        stderr, dropped_err = head_and_tail(err, keep_bytes)
    return ExecResult(exit_code=None if timed_out else proc.returncode, stdout=stdout, stderr=stderr,
                      timed_out=timed_out, truncated=bool(dropped_out or dropped_err))
