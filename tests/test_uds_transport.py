"""The Unix-socket transport against a hand-written HTTP peer, so each wire case is exact."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Awaitable, Callable

import httpx
import pytest

from seer_mcp.manager.transport import UnixSocketTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + (await reader.readexactly(length) if length else b"")


class Peer:
    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []

    async def __aenter__(self) -> "Peer":
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            await self.handler(reader, writer, self.connections)

        self.server = await asyncio.start_unix_server(serve, path=str(self.path))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def _reply(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "peer.sock"


async def test_a_reply_with_a_length_is_read_and_the_connection_reused(sock: Path) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            try:
                request = await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            peer.requests.append(request)
            writer.write(_reply(b'{"ok": true}'))
            await writer.drain()

    async with Peer(sock, handler) as peer:
        client = httpx.AsyncClient(transport=UnixSocketTransport(str(sock)), base_url="http://agent")
        for _ in range(3):
            response = await client.post("/run", json={"code": "x = 1"}, headers={"Authorization": "Bearer t"})
            assert response.status_code == 200 and response.json() == {"ok": True}
        await client.aclose()
    assert peer.connections == 1
    assert peer.requests[0].startswith(b"POST /run HTTP/1.1\r\n")
    assert b"authorization: Bearer t" in peer.requests[0].lower().replace(b"bearer", b"Bearer")
    assert peer.requests[0].endswith(b'{"code":"x = 1"}')


async def test_a_chunked_reply_streams_each_line_as_it_arrives(sock: Path) -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(b"7\r\nfirst\r\n\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"7\r\nlast!\r\n\r\n0\r\n\r\n")
        await writer.drain()

    async with Peer(sock, handler):
        transport = UnixSocketTransport(str(sock))
        async with httpx.AsyncClient(transport=transport, base_url="http://agent") as client:
            async with client.stream("GET", "/cell") as response:
                lines = response.aiter_lines()
                assert await lines.__anext__() == "first"  # before the peer sends the rest
                release.set()
                assert [line async for line in lines] == ["last!"]


async def test_a_kept_alive_connection_the_peer_closed_is_retried_once(sock: Path) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await _read_request(reader)
        writer.write(_reply(b'{"n": %d}' % n))
        await writer.drain()
        writer.close()  # like an idle keep-alive timeout on the peer's side

    async with Peer(sock, handler) as peer:
        async with httpx.AsyncClient(transport=UnixSocketTransport(str(sock)), base_url="http://agent") as client:
            assert (await client.get("/a")).json() == {"n": 1}
            await asyncio.sleep(0.05)
            assert (await client.get("/b")).json() == {"n": 2}
    assert peer.connections == 2


async def test_a_silent_peer_raises_httpx_read_timeout(sock: Path) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    async with Peer(sock, handler):
        async with httpx.AsyncClient(transport=UnixSocketTransport(str(sock)), base_url="http://agent",
                                     timeout=httpx.Timeout(5, read=0.3)) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get("/slow")


async def test_a_missing_socket_raises_httpx_connect_error(tmp_path: Path) -> None:
    async with httpx.AsyncClient(transport=UnixSocketTransport(str(tmp_path / "none.sock")),
                                 base_url="http://agent") as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/health")


async def test_garbage_from_the_peer_is_a_protocol_error(sock: Path) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await _read_request(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()

    async with Peer(sock, handler):
        async with httpx.AsyncClient(transport=UnixSocketTransport(str(sock)), base_url="http://agent") as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get("/x")
