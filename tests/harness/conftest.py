"""Fakes for the harness tests: a scripted Messages API on 127.0.0.1, and a real seer-mcp server over HTTP."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.fake_http import FakeHandler, serving, without_proxies

_ids = itertools.count(1)

Reply = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "text": content}


def tool_use(name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{next(_ids):04d}", "name": name, "input": arguments or {}}


def message(*blocks: dict[str, Any], stop_reason: str | None = None) -> dict[str, Any]:
    """A Messages API response; stop_reason follows from the blocks unless given."""
    stop = stop_reason or ("tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn")
    return {"id": f"msg_{next(_ids):04d}", "type": "message", "role": "assistant", "model": "fake-model",
            "content": list(blocks), "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5}}


@dataclass
class Delayed:
    """A reply sent only after `seconds` (to interrupt a turn while the model 'thinks'); `on_arrival` runs
    when the request comes in."""

    seconds: float
    reply: Reply
    on_arrival: Callable[[], None] | None = None


def ctrl_c_soon(delay: float = 0.3) -> Callable[[], None]:
    """An `on_arrival` that sends this process SIGINT (Ctrl-C) `delay` seconds later."""
    return lambda: threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT)).start()


@dataclass
class Failure:
    status: int
    error_type: str = "invalid_request_error"
    text: str = "scripted failure"


@dataclass
class FakeMessagesAPI:
    """Records each request's JSON body and headers; answers from `script`, in order."""

    url: str = ""
    script: list[Reply | Delayed | Failure] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # paths of requests that were not model calls

    def tool_results(self, request: int) -> dict[str, dict[str, Any]]:
        """tool_use_id -> tool_result block of every tool result sent in request number `request`."""
        found = {}
        for msg in self.requests[request]["messages"]:
            if msg["role"] == "user" and isinstance(msg["content"], list):
                for block in msg["content"]:
                    if block.get("type") == "tool_result":
                        found[block["tool_use_id"]] = block
        return found


def _events(reply: dict[str, Any]) -> bytes:
    """A response as the Messages API streams it (server-sent events)."""
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {**reply, "content": [], "stop_reason": None}})]
    for index, block in enumerate(reply["content"]):
        if block["type"] == "text":
            start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": block["text"]}
        else:
            start = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
                   ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
                   ("content_block_stop", {"type": "content_block_stop", "index": index})]
    events += [("message_delta", {"type": "message_delta", "delta": {"stop_reason": reply["stop_reason"],
                                                                     "stop_sequence": None},
                                  "usage": {"output_tokens": reply["usage"]["output_tokens"]}}),
               ("message_stop", {"type": "message_stop"})]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def result_text(block: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in block["content"] if part["type"] == "text")


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeMessagesAPI]:
    without_proxies(monkeypatch, "ANTHROPIC_AUTH_TOKEN", "SEER_AGENT_MODEL")
    api = FakeMessagesAPI()

    class Handler(FakeHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            if not self.path.startswith("/v1/messages") or "count_tokens" in self.path:
                api.other.append(self.path)  # anything but a model call (the CLI's side requests)
                self.send_body(404, b'{"type": "error", "error": {"type": "not_found_error", "message": "fake"}}')
                return
            api.requests.append(body)
            api.headers.append({k.lower(): v for k, v in self.headers.items()})
            reply = api.script.pop(0) if api.script else Failure(500, "api_error", "the script is exhausted")
            if isinstance(reply, Delayed):
                if reply.on_arrival is not None:
                    reply.on_arrival()
                time.sleep(reply.seconds)
                reply = reply.reply
            status = 200
            if isinstance(reply, Failure):
                status, payload = reply.status, {"type": "error", "error": {"type": reply.error_type,
                                                                             "message": reply.text}}
            else:
                payload = reply(body) if callable(reply) else reply
            streamed = status == 200 and body.get("stream")  # the claude CLI streams; the anthropic SDK does not here
            data = _events(payload) if streamed else json.dumps(payload).encode()
            self.send_body(status, data, "text/event-stream" if streamed else "application/json")

        def do_GET(self) -> None:
            api.other.append(self.path)
            self.send_body(404, b"{}")

    with serving(Handler) as server:
        api.url = f"http://127.0.0.1:{server.server_port}"
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        monkeypatch.setenv("SEER_OUTPUTS_DIR", str(tmp_path / "outputs"))  # default transcripts land here
        yield api
    server.server_close()


def isolate_claude_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The claude CLI keeps sessions and settings under HOME / CLAUDE_CONFIG_DIR: a throwaway one, and no side
    traffic."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "home" / ".claude"))
    for name in ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "DISABLE_TELEMETRY", "DISABLE_AUTOUPDATER",
                 "DISABLE_ERROR_REPORTING"):
        monkeypatch.setenv(name, "1")


@dataclass
class SeerServer:
    url: str
    settings: Settings

    @property
    def mcp_config(self) -> dict[str, Any]:
        return {"seer": {"type": "http", "url": self.url}}


@pytest.fixture(scope="module")
def seer_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeerServer]:
    """A real seer-mcp server (build_server) over streamable HTTP on a free port, in a thread of its own."""
    root = tmp_path_factory.mktemp("seer")
    settings = Settings(state_dir=root / "state", outputs_dir=root / "outputs", cell_timeout=60, _env_file=None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(build_server(settings).http_app(path="/mcp"), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the seer-mcp server did not start"
        time.sleep(0.02)
    yield SeerServer(f"http://127.0.0.1:{port}/mcp", settings)
    server.should_exit = True  # its lifespan terminates whatever sandboxes are left
    thread.join(timeout=30)
    sock.close()
