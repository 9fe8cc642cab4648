"""Plumbing for the tests' fake HTTP APIs (Anthropic, OpenAI-compatible): serve a handler locally, reply with JSON."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def without_proxies(monkeypatch: pytest.MonkeyPatch, *also: str) -> None:
    """The fake servers are local: a proxy from the environment must not sit in between."""
    for name in (*PROXY_VARIABLES, *also):
        monkeypatch.delenv(name, raising=False)


class FakeHandler(BaseHTTPRequestHandler):
    """A quiet handler with a one-call reply."""

    def send_body(self, status: int, data: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (a timeout, an interrupted turn)
            pass

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """`handler` served on a free 127.0.0.1 port from daemon threads; shut down and closed on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
