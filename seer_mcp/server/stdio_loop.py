"""MCP over stdio read and written on the event loop, when stdin and stdout are pipes or sockets.

The SDK's stdio transport moves every line through a worker thread: one to read it, two more to
write and flush the reply. Each hop wakes a thread and takes the GIL back, a share of every
tool call that a pipe does not need: asyncio reads and writes pipes without threads. The SDK's
transport still frames and parses the messages; only the byte streams under it are replaced.

As the SDK does, the wire gets private descriptors and fd 0 / fd 1 are pointed at /dev/null and
stderr while serving, so a child's stdin reads EOF and stray output misses the wire. Ctrl-C and
SIGTERM end the input as a closed stdin would (the server stops through its usual path and its
lifespan terminates local sandboxes); a second signal exits at once. Other stdins (a terminal, a
file) keep the SDK's transport, behind `stdio_stop`'s relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import stat
from collections.abc import AsyncIterator, Callable
from typing import Any

from mcp.server.stdio import stdio_server

from seer_mcp.server.stdio_stop import STOP_SIGNALS, signal_stopper

# Lines are as long as their messages (a file written through a tool can be megabytes): the
# reader's buffer limit is no bound the protocol has.
_LINE_LIMIT = 1 << 31
# What `run_stdio` drives, as FastMCP's own `run_stdio_async` does; a FastMCP without them gets its own path.
_FASTMCP_PARTS = ("_lifespan_manager", "_mcp_server")


def pipes_on_both_ends() -> bool:
    """Whether fd 0 and fd 1 are two pipes or sockets, which the event loop can serve.

    One socket on both (inetd's way) is left to the SDK: asyncio's write side takes the socket
    turning readable for its peer having closed it, and would stop at the first request.
    """
    try:
        ends = [os.fstat(fd) for fd in (0, 1)]
    except OSError:
        return False
    if (ends[0].st_dev, ends[0].st_ino) == (ends[1].st_dev, ends[1].st_ino):
        return False
    return all(_is_pipe_or_socket(end.st_mode) for end in ends)


def serves_on_the_loop(server: Any) -> bool:
    """Whether `run_stdio` can serve `server` here: two pipes, and the FastMCP parts it drives."""
    return pipes_on_both_ends() and all(hasattr(server, part) for part in _FASTMCP_PARTS)


def _is_pipe_or_socket(mode: int) -> bool:
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _Lines:
    """The wire's incoming lines as text, in the shape the SDK's transport iterates."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:
            if not end.partial:
                raise StopAsyncIteration from None
            line = end.partial  # a last line without its newline
        return line.decode("utf-8", errors="replace")


class _Output:
    """The wire's outgoing side: `write` queues the bytes, `flush` waits while the pipe is full.

    A client that closed its end is gone for good: what it would have read is dropped, and the
    input is ended so the server stops (and its lifespan terminates the sandboxes) as on EOF.
    """

    def __init__(self, writer: asyncio.StreamWriter, end_input: Callable[[], None]) -> None:
        self._writer = writer
        self._end_input = end_input

    async def write(self, text: str) -> None:
        if self._writer.transport.is_closing():
            self._end_input()
            return
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        try:
            await self._writer.drain()
        except ConnectionError:
            self._end_input()


def _claim(fd: int, diversion: int) -> int:
    """A private, close-on-exec duplicate of `fd` for the wire; `fd` itself then points at `diversion`."""
    private = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.dup2(diversion, fd)
    return private


def _restore(fd: int, private: int) -> None:
    with contextlib.suppress(OSError):
        os.dup2(private, fd)
        os.set_blocking(fd, True)  # the loop made the shared file description non-blocking


@contextlib.asynccontextmanager
async def _loop_streams() -> AsyncIterator[tuple[_Lines, _Output]]:
    loop = asyncio.get_running_loop()
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        wire_in = _claim(0, null)
        wire_out = _claim(1, 2)
    finally:
        os.close(null)
    try:  # from here on fd 0 and fd 1 are put back however this ends
        reader = asyncio.StreamReader(limit=_LINE_LIMIT)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(wire_in), "rb", buffering=0))
        try:
            write_transport, protocol = await loop.connect_write_pipe(
                asyncio.streams.FlowControlMixin, os.fdopen(os.dup(wire_out), "wb", buffering=0))
            writer = asyncio.StreamWriter(write_transport, protocol, None, loop)
            # Closing the read side gives the reader EOF after what it has buffered: a closed stdin, to the SDK.
            handle = signal_stopper(read_transport.close)
            for signum in STOP_SIGNALS:
                loop.add_signal_handler(signum, handle, signum)
            try:
                yield _Lines(reader), _Output(writer, read_transport.close)
            finally:
                for signum in STOP_SIGNALS:
                    loop.remove_signal_handler(signum)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
                write_transport.close()
        finally:
            read_transport.close()
    finally:
        _restore(0, wire_in)
        _restore(1, wire_out)
        os.close(wire_in)
        os.close(wire_out)


async def run_stdio(server: Any) -> None:
    """`server.run_stdio_async()` on the loop's own pipes: the same lifespan and session handling."""
    from fastmcp.server.context import reset_transport, set_transport

    token = set_transport("stdio")
    try:
        async with server._lifespan_manager(), _loop_streams() as (lines, output):
            async with stdio_server(stdin=lines, stdout=output) as (read_stream, write_stream):  # type: ignore[arg-type]
                low_level = server._mcp_server
                await low_level.run(read_stream, write_stream, low_level.create_initialization_options())
    finally:
        reset_transport(token)
