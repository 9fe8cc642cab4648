"""Shared by the interop tests: where the real clients are installed, and a scripted model behind a fake
Messages API that records exactly what each client sends its model.

The clients are installed by scripts/install-clients.sh (scripts/test.sh runs it) into .clients/, one folder per
client@version. A missing one fails its tests with a line that says how to install it: these tests must never
pass, or skip, without the clients they are about.

The fake model (`ScriptedModel`) answers the Messages API the way the real one streams it, from a list of
steps: step n answers the conversation's n-th model call (counted from the assistant turns the client sends
back), so a retried request gets the same answer and a client's side requests (titles, token counts) do not
shift the script. A step is a function of the conversation so far (`Turn`), since ids (sandboxes, sessions) are
only known at run time. Every `tool_result` block the client sends is recorded the first time it appears (a
client may later shorten old results in its history): that is what the model received.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fake_http import FakeHandler, serving
from tests.harness.conftest import _events, message, text

__all__ = ["CLAUDE_CODE_NEWEST", "CLAUDE_CODE_OLDEST", "CLIENTS_DIR", "INSPECTOR_VERSION", "ScriptedModel", "Step",
           "Turn", "call", "claude_code_bin", "claude_env", "images_of", "inspector_command", "occurrences",
           "received_chars", "say", "text_of_block"]

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "scripts" / "install-clients.sh"
CLIENTS_DIR = Path(os.environ.get("SEER_CLIENTS_DIR") or REPO / ".clients")
if not CLIENTS_DIR.is_absolute():
    CLIENTS_DIR = REPO / CLIENTS_DIR


def _pinned(name: str) -> str:
    """A version pinned in scripts/install-clients.sh (`NAME=VERSION`), the one place the versions live."""
    found = re.search(rf"^{name}=([0-9][0-9A-Za-z.\-]*)\s*(?:#.*)?$", INSTALLER.read_text(), re.MULTILINE)
    assert found, f"{INSTALLER} pins no {name}="
    return found.group(1)


CLAUDE_CODE_NEWEST = _pinned("CLAUDE_CODE_NEWEST")
CLAUDE_CODE_OLDEST = _pinned("CLAUDE_CODE_OLDEST")
INSPECTOR_VERSION = _pinned("INSPECTOR")

_HOW = "run `bash scripts/install-clients.sh` (it needs npm; scripts/test.sh runs it)"


def _installed(folder: str, version: str) -> Path:
    where = CLIENTS_DIR / f"{folder}@{version}"
    if not (where / ".installed").is_file():
        reason = "npm is not installed" if shutil.which("npm") is None else "it was not installed or its install failed"
        pytest.fail(f"{folder} {version} is not installed in {where} ({reason}): {_HOW}", pytrace=False)
    return where


def claude_code_bin(version: str) -> Path:
    """The `claude` executable of an installed Claude Code release."""
    path = _installed("claude-code", version) / "node_modules" / ".bin" / "claude"
    if not os.access(path, os.X_OK):
        pytest.fail(f"Claude Code {version}: {path} is missing or not executable: {_HOW}", pytrace=False)
    return path


def inspector_command() -> list[str]:
    """The command line that starts the installed MCP Inspector's CLI (node, its launcher, --cli)."""
    launcher = (_installed("inspector", INSPECTOR_VERSION) / "node_modules" / "@modelcontextprotocol" / "inspector"
                / "clients" / "launcher" / "build" / "index.js")
    node = shutil.which("node")
    if node is None or not launcher.is_file():
        pytest.fail(f"the MCP Inspector needs node and {launcher}: {_HOW}", pytrace=False)
    return [node, str(launcher), "--cli"]


def claude_env(home: Path, api_url: str) -> dict[str, str]:
    """Environment for a Claude Code process: a throwaway home, the fake API, no side traffic, no proxies."""
    env = {k: v for k, v in os.environ.items()
           if k.upper() not in {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"} and not k.startswith(("CLAUDE", "ANTHROPIC"))}
    env.update({"HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"), "ANTHROPIC_BASE_URL": api_url,
                "ANTHROPIC_API_KEY": "sk-ant-test", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1",
                "DISABLE_BUG_COMMAND": "1", "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1", "NO_COLOR": "1",
                # `claude -p` does not wait for MCP servers by default: its first model call may go out before
                # a stdio server (seer-mcp takes ~2 s to answer initialize) is connected, without its tools.
                # Told to wait, it waits MCP_CONNECT_TIMEOUT_MS (default 5 s; `serve --experiment` takes longer,
                # and so may any server on a busy 2-core machine).
                "MCP_CONNECTION_NONBLOCKING": "0", "MCP_CONNECT_TIMEOUT_MS": "60000"})
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    return env


# ----- what a tool_result block holds -----------------------------------------

def _parts(block: dict[str, Any]) -> list[dict[str, Any]]:
    content = block.get("content")
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content)


def text_of_block(block: dict[str, Any]) -> str:
    """All the text of a tool_result block (its content is a string or a list of blocks)."""
    return "\n".join(part.get("text", "") for part in _parts(block) if part.get("type") == "text")


def images_of(block: dict[str, Any]) -> list[dict[str, Any]]:
    return [part for part in _parts(block) if part.get("type") == "image"]


def received_chars(block: dict[str, Any]) -> dict[str, int]:
    """What the model was sent for one tool call: characters of text, images, and base64 characters of images."""
    images = images_of(block)
    return {"text_chars": len(text_of_block(block)), "images": len(images),
            "image_b64_chars": sum(len(i.get("source", {}).get("data", "")) for i in images)}


def occurrences(haystack: str, needle: str) -> int:
    return haystack.count(needle)


def say(line: str) -> None:
    """A line for the test's output (pytest -s, or the captured output of a failure)."""
    print(line, flush=True)


# ----- the scripted model -------------------------------------------------------

@dataclass
class Turn:
    """What a step sees: the model call being answered, and every tool result received so far."""

    request: dict[str, Any]
    results: dict[str, dict[str, Any]]  # tool_use_id -> the tool_result block, as first received
    labels: dict[str, str]  # tool_use_id -> the label of the step that made the call

    def result(self, label: str) -> dict[str, Any]:
        """The tool_result of the call the step `label` made."""
        ids = [i for i, name in self.labels.items() if name == label]
        assert ids and ids[-1] in self.results, f"no tool result yet for step {label!r}"
        return self.results[ids[-1]]

    def text(self, label: str) -> str:
        return text_of_block(self.result(label))

    def find(self, label: str, pattern: str) -> str:
        """The first match of `pattern` in the text that step `label`'s call returned (an id, say)."""
        found = re.search(pattern, self.text(label))
        assert found, f"{pattern!r} is not in what {label!r} returned: {self.text(label)[:2000]!r}"
        return found.group(0)

    @property
    def tool_names(self) -> set[str]:
        return {tool["name"] for tool in self.request.get("tools", [])}


@dataclass
class Step:
    """One model turn: a tool call (`tool`, with `arguments` or a function of the Turn giving them) or, with no
    tool, a closing text."""

    label: str
    tool: str | Callable[[Turn], str] | None = None
    arguments: dict[str, Any] | Callable[[Turn], dict[str, Any]] = field(default_factory=dict)
    say: str = ""
    delay: float = 0  # seconds the model "thinks" before it answers


def call(label: str, tool: str | Callable[[Turn], str],
         arguments: dict[str, Any] | Callable[[Turn], dict[str, Any]] | None = None, delay: float = 0) -> Step:
    return Step(label, tool, arguments if arguments is not None else {}, delay=delay)


@dataclass
class ScriptedModel:
    """A fake Messages API on 127.0.0.1 that plays `steps` (see the module docstring).

    `prefix` is what the client puts before a tool's name (`mcp__seer__` for Claude Code, "" for the harness):
    a step's tool is given without it. A model call is the agent's own when its tools include
    `<prefix>execute_code` or `<prefix>call_interface`; any other (a title, a summary) is answered with a short
    text.
    """

    steps: list[Step]
    prefix: str = ""
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)  # the agent's model calls, in order
    side_requests: list[str] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # tool_use_id -> step label
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # step label -> the tool_use block sent
    tools_seen: dict[str, set[str]] = field(default_factory=dict)  # step label -> tool names offered in its call
    errors: list[str] = field(default_factory=list)
    _replies: dict[int, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def result(self, label: str) -> dict[str, Any]:
        tool_use = self.calls.get(label)
        assert tool_use is not None, f"the model never made the call of step {label!r} (errors: {self.errors})"
        assert tool_use["id"] in self.results, (
            f"no tool_result came back for step {label!r} ({tool_use['name']}); errors: {self.errors}")
        return self.results[tool_use["id"]]

    def text(self, label: str) -> str:
        return text_of_block(self.result(label))

    def dump(self, path: Path) -> Path:
        """Every tool_result the model received, by step label, as JSON a person can read."""
        path.write_text(json.dumps({label: self.results.get(block["id"]) for label, block in self.calls.items()},
                                   indent=1))
        return path

    def sizes(self) -> dict[str, dict[str, int]]:
        return {label: received_chars(self.results[c["id"]]) for label, c in self.calls.items()
                if c["id"] in self.results}

    def _record(self, body: dict[str, Any]) -> None:
        for msg in body.get("messages", []):
            if msg.get("role") == "user" and isinstance(msg.get("content"), list):
                for block in msg["content"]:
                    if block.get("type") == "tool_result" and block.get("tool_use_id") not in self.results:
                        self.results[block["tool_use_id"]] = block

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            tools = {tool.get("name") for tool in body.get("tools", [])}
            if not tools & {f"{self.prefix}execute_code", f"{self.prefix}call_interface"}:
                self.side_requests.append(json.dumps(body)[:200])
                return message(text("ok"))
            self.requests.append(body)
            self._record(body)
            index = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
            if index in self._replies:  # a retry of a call already answered
                return self._replies[index]
            if index >= len(self.steps):
                reply = message(text("The script is over."))
            else:
                reply = self._play(index, body, tools)
                if self.steps[index].delay:
                    time.sleep(self.steps[index].delay)
            self._replies[index] = reply
            return reply

    def _play(self, index: int, body: dict[str, Any], tools: set[str]) -> dict[str, Any]:
        step = self.steps[index]
        turn = Turn(body, dict(self.results), dict(self.labels))
        self.tools_seen[step.label] = tools
        try:
            if step.tool is None:
                return message(text(step.say or "Done."))
            name = step.tool(turn) if callable(step.tool) else step.tool
            arguments = step.arguments(turn) if callable(step.arguments) else step.arguments
        except Exception as exc:  # noqa: BLE001 - a step could not be built: say why, and stop the agent
            self.errors.append(f"step {step.label!r}: {type(exc).__name__}: {exc}")
            return message(text(f"I stop: step {step.label!r} failed: {exc}"))
        block = {"type": "tool_use", "id": f"toolu_{index:02d}_{step.label}", "name": f"{self.prefix}{name}",
                 "input": arguments}
        self.labels[block["id"]] = step.label
        self.calls[step.label] = block
        blocks = [text(step.say), block] if step.say else [block]
        return message(*blocks)


def _count_tokens(body: dict[str, Any]) -> dict[str, int]:
    """A rough count (4 characters a token, 1,600 an image), so that a client that asks before it forwards a
    large result behaves as it does against the real API (where the count succeeds)."""
    chars, images = 0, 0

    def walk(value: Any) -> None:
        nonlocal chars, images
        if isinstance(value, dict):
            if value.get("type") == "image":
                images += 1
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            chars += len(value)

    walk(body.get("messages", []))
    return {"input_tokens": math.ceil(chars / 4) + 1600 * images}


@contextlib.contextmanager
def serve_model(model: ScriptedModel) -> Iterator[ScriptedModel]:
    class Handler(FakeHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            path = self.path.split("?")[0]
            if path.endswith("/count_tokens"):
                self.send_body(200, json.dumps(_count_tokens(body)).encode())
                return
            if not path.endswith("/v1/messages"):
                model.side_requests.append(self.path)
                self.send_body(404, b'{"type": "error", "error": {"type": "not_found_error", "message": "fake"}}')
                return
            try:
                reply = model.answer(body)
            except Exception as exc:  # noqa: BLE001 - a bug in a test's script: the agent is told
                model.errors.append(f"{type(exc).__name__}: {exc}")
                reply = message(text(f"fake model error: {exc}"))
            if body.get("stream"):
                self.send_body(200, _events(reply), "text/event-stream")
            else:
                self.send_body(200, json.dumps(reply).encode())

        def do_GET(self) -> None:
            model.side_requests.append(self.path)
            self.send_body(404, b"{}")

    with serving(Handler) as server:
        model.url = f"http://127.0.0.1:{server.server_port}"
        yield model
