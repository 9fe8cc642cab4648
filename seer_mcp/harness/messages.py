"""What the harness streams and records: `AgentMessage`, and the JSON Lines transcript it is written to.

Every message a run produces (the system prompt, user turns, the agent's text, each tool call with its
arguments, each tool result, the final answer, errors) is one `AgentMessage`, and one line of the
transcript. Lines are flushed as they are written, so a run that is killed leaves everything up to
that moment on disk.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Literal

__all__ = ["AgentMessage", "MessageKind", "Transcript", "default_transcript_path"]

MessageKind = Literal["system", "user", "assistant_text", "thinking", "tool_call", "tool_result", "final", "error",
                      "info"]

_ROLES: dict[str, str] = {"system": "system", "user": "user", "assistant_text": "assistant", "thinking": "assistant",
                          "tool_call": "assistant", "final": "assistant", "tool_result": "tool", "error": "harness",
                          "info": "harness"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class AgentMessage:
    """One message of an agent run.

    kind: what it is (see `MessageKind`); `role` follows from it (system, user, assistant, tool, harness).
    content: its text: the prompt, the agent's words, a tool result's text, the final answer, an error.
    tool_name / tool_use_id / arguments: for tool calls (and the name and id again on their results).
    result: a tool result's content blocks as JSON ({"type": "text", "text"} or {"type": "image", "mime_type",
        "data"}, base64), so the transcript holds exactly what the agent was shown.
    is_error: a tool call that failed, or a final answer the run did not reach normally.
    turn: which model call (1, 2, ...) produced it; 0 for the system prompt and user turns.
    metadata: anything else worth keeping (stop reason, token usage, cost, the SDK's session id, ...).
    """

    kind: MessageKind
    content: str = ""
    tool_name: str | None = None
    tool_use_id: str | None = None
    arguments: dict[str, Any] | None = None
    result: list[dict[str, Any]] | None = None
    is_error: bool = False
    turn: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    timestamp: str = field(default_factory=_now)

    @property
    def role(self) -> str:
        return _ROLES[self.kind]

    def to_dict(self) -> dict[str, Any]:
        """The transcript line: empty fields are left out (but not a tool call's arguments or a result)."""
        data: dict[str, Any] = {"kind": self.kind, "role": self.role, "timestamp": self.timestamp, "turn": self.turn}
        for key in ("content", "tool_name", "tool_use_id", "metadata"):
            value = getattr(self, key)
            if value not in (None, "", {}):
                data[key] = value
        for key in ("arguments", "result"):  # kept even when empty: a call without arguments is still one
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.is_error:
            data["is_error"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AgentMessage":
        return cls(**{k: v for k, v in data.items() if k != "role"})

    def __str__(self) -> str:
        """A one-glance rendering for terminals (long texts are shortened; the transcript has them whole)."""
        if self.kind == "system":
            return f"[system] {_short(self.content, 300)}"
        if self.kind == "tool_call":
            args = json.dumps(self.arguments or {}, ensure_ascii=False, default=str)
            return f"[tool call] {self.tool_name}({_short(args, 500)})"
        if self.kind == "tool_result":
            label = "tool error" if self.is_error else "tool result"
            return f"[{label}] {self.tool_name}: {_short(self.content, 1500)}"
        if self.kind == "thinking":
            return f"[thinking] {_short(self.content, 500)}"
        label = {"assistant_text": "assistant", "final": "final (error)" if self.is_error else "final"}.get(
            self.kind, self.kind)
        return f"[{label}] {self.content}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


def default_transcript_path(provider: str) -> Path:
    """`<SEER_OUTPUTS_DIR or ./seer-outputs>/transcripts/<UTC timestamp>-<provider>.jsonl`."""
    outputs = Path(os.environ.get("SEER_OUTPUTS_DIR") or "seer-outputs").expanduser()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"
    return outputs / "transcripts" / f"{stamp}-{provider}.jsonl"


class Transcript:
    """A JSON Lines file: one `AgentMessage.to_dict()` per line, flushed line by line.

    An explicit path is appended to; the default path is created new (a name already taken,
    e.g. by a second agent started in the same millisecond, gets a `-2`, `-3`, ... suffix).
    """

    def __init__(self, path: str | Path | None, provider: str) -> None:
        self._explicit = path is not None
        self.path = Path(path).expanduser() if path is not None else default_transcript_path(provider)
        self._file: IO[str] | None = None

    def _open(self) -> IO[str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._explicit:
            return self.path.open("a", encoding="utf-8")
        stem, n = self.path.stem, 1
        while True:
            try:
                return self.path.open("x", encoding="utf-8")
            except FileExistsError:
                n += 1
                self.path = self.path.with_name(f"{stem}-{n}.jsonl")

    def open(self) -> Path:
        """Creates the file (if not yet done); returns its final path."""
        if self._file is None:
            self._file = self._open()
        return self.path

    def write(self, message: AgentMessage) -> None:
        self.open()
        assert self._file is not None
        self._file.write(json.dumps(message.to_dict(), ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @staticmethod
    def read(path: str | Path) -> list[AgentMessage]:
        """The messages of a transcript file."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return [AgentMessage.from_dict(json.loads(line)) for line in lines if line.strip()]
