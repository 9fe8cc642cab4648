"""A lean httpx transport for HTTP/1.1 over a Unix socket: the server's link to a local agent.

httpcore's general-purpose connection machinery costs about as much as the
rest of a trivial cell's hop to the agent. This transport keeps idle
keep-alive connections, writes each request in one go and parses replies
with httptools (already uvicorn's parser), including chunked bodies, which is
how the agent streams a long cell's progress. It honours httpx's connect,
read and write timeouts and raises httpx's own exceptions, so callers cannot
tell it from the default transport.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import httptools
import httpx

_READ_CHUNK = 65536


class _Stale(Exception):
    """A kept-alive connection that the agent had already closed."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _Reply:
    """httptools callbacks, collected for one response."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.chunks: list[bytes] = []
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_done = True
        # Asked now: once the message is complete the parser has reset and says False.
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class _Body(httpx.AsyncByteStream):
    def __init__(self, transport: "UnixSocketTransport", conn: _Connection, parser: httptools.HttpResponseParser,
                 reply: _Reply, read_timeout: float | None) -> None:
        self._transport = transport
        self._conn = conn
        self._parser = parser
        self._reply = reply
        self._timeout = read_timeout
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        reply = self._reply
        while True:
            if reply.chunks:
                chunks, reply.chunks = reply.chunks, []
                for chunk in chunks:
                    yield chunk
            if reply.complete:
                self._finished = True
                return
            data = await _read(self._conn, self._timeout)
            if not data:
                raise httpx.RemoteProtocolError("the agent closed the connection mid-reply")
            _feed(self._parser, data)

    async def aclose(self) -> None:
        reusable = self._finished and self._reply.keep_alive
        self._transport._release(self._conn, reusable)


async def _read(conn: _Connection, timeout: float | None) -> bytes:
    try:
        return await asyncio.wait_for(conn.reader.read(_READ_CHUNK), timeout)
    except asyncio.TimeoutError as exc:
        raise httpx.ReadTimeout("the agent did not answer in time") from exc
    except ConnectionError:
        raise
    except OSError as exc:
        raise httpx.ReadError(str(exc)) from exc


def _feed(parser: httptools.HttpResponseParser, data: bytes) -> None:
    try:
        parser.feed_data(data)
    except httptools.HttpParserError as exc:
        raise httpx.RemoteProtocolError(f"malformed reply from the agent: {exc}") from exc


class UnixSocketTransport(httpx.AsyncBaseTransport):
    def __init__(self, path: str) -> None:
        self._path = path
        self._idle: list[_Connection] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        payload = _serialize(request, await request.aread())
        for attempt in (0, 1):
            conn = await self._acquire(timeouts.get("connect"))
            try:
                conn.writer.write(payload)
                await asyncio.wait_for(conn.writer.drain(), timeouts.get("write"))
                return await self._response(conn, timeouts.get("read"))
            except (_Stale, ConnectionError) as exc:
                conn.close()
                # The agent closed a kept-alive connection before reading this request:
                # nothing ran, so one retry on a fresh connection is safe.
                if conn.reused and attempt == 0:
                    continue
                raise httpx.RemoteProtocolError(f"the agent closed the connection ({exc!r})") from exc
            except asyncio.TimeoutError as exc:
                conn.close()
                raise httpx.WriteTimeout("timed out sending to the agent") from exc
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    async def _response(self, conn: _Connection, read_timeout: float | None) -> httpx.Response:
        reply = _Reply()
        parser = reply.parser = httptools.HttpResponseParser(reply)
        received = False
        while not reply.head_done:
            data = await _read(conn, read_timeout)
            if not data:
                if not received:
                    raise _Stale("closed before replying")
                raise httpx.RemoteProtocolError("the agent closed the connection mid-reply")
            received = True
            _feed(parser, data)
        return httpx.Response(parser.get_status_code(), headers=reply.headers,
                              stream=_Body(self, conn, parser, reply, read_timeout))

    async def _acquire(self, timeout: float | None) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.reader.at_eof():
                conn.reused = True
                return conn
            conn.close()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(self._path), timeout)
        except asyncio.TimeoutError as exc:
            raise httpx.ConnectTimeout("timed out connecting to the agent") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to the agent's socket {self._path}: {exc}") from exc
        return _Connection(reader, writer)

    def _release(self, conn: _Connection, reusable: bool) -> None:
        if reusable:
            self._idle.append(conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()


def _serialize(request: httpx.Request, body: bytes) -> bytes:
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
    lines += [b"%s: %s" % (name, value) for name, value in request.headers.raw]
    if body and "content-length" not in request.headers:
        lines.append(b"content-length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
