"""Sandboxes and sessions recorded in SQLite under the state dir.

The record outlives the server process: after a restart (even after SIGKILL)
the manager reads it to re-attach to sandboxes that are still alive and to
clean up the rest. WAL mode keeps each small write cheap and crash-safe.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sandboxes (
    sandbox_id TEXT PRIMARY KEY,
    name TEXT,
    backend TEXT NOT NULL,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    handle TEXT NOT NULL,
    workspace_path TEXT NOT NULL,
    outputs_path TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_active REAL NOT NULL,
    expires_at REAL NOT NULL,
    idle_timeout REAL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    sandbox_id TEXT NOT NULL REFERENCES sandboxes(sandbox_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    notebook_path TEXT NOT NULL,
    mirror_path TEXT,
    created_at REAL NOT NULL,
    model_info TEXT NOT NULL DEFAULT '',
    library_docs TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS snapshots (
    snapshot_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS interfaces (
    name TEXT PRIMARY KEY,
    sandbox_id TEXT NOT NULL REFERENCES sandboxes(sandbox_id) ON DELETE CASCADE,
    data TEXT NOT NULL
);
"""

RUNNING = "running"
TERMINATED = "terminated"
FAILED = "failed"


@dataclass
class SandboxRecord:
    sandbox_id: str
    name: str | None
    backend: str
    status: str
    spec: dict[str, Any]
    handle: dict[str, Any]  # the backend's re-attach info, token included
    workspace_path: str
    outputs_path: str
    created_at: float
    last_active: float
    expires_at: float
    idle_timeout: float | None = None
    detail: str = ""

    def idle_deadline(self) -> float | None:
        return self.last_active + self.idle_timeout if self.idle_timeout else None

    def public(self) -> dict[str, Any]:
        """What tools and `seer-mcp ls` show: everything but the secrets."""
        now = time.time()
        return {
            "sandbox_id": self.sandbox_id, "name": self.name, "backend": self.backend,
            "status": self.status, "workspace_path": self.workspace_path,
            "outputs_path": self.outputs_path, "gpu": self.spec.get("gpu"),
            "age_s": round(now - self.created_at, 1), "idle_s": round(now - self.last_active, 1),
            "expires_in_s": round(self.expires_at - now, 1),
            **({"isolation": self.handle["isolation"]} if self.handle.get("isolation") else {}),
            **({"warning": self.handle["warning"]} if self.handle.get("warning") else {}),
            **({"detail": self.detail} if self.detail else {}),
        }


@dataclass
class SessionRecord:
    session_id: str
    sandbox_id: str
    name: str
    kind: str
    notebook_path: str  # inside the sandbox's workspace
    mirror_path: str | None
    created_at: float = field(default_factory=time.time)
    model_info: str = ""
    library_docs: str = ""  # of the sandbox's workspace and the session's own


@dataclass
class InterfaceRecord:
    """An interface this server serves: where, how, and what it exposes (its token included)."""

    name: str
    sandbox_id: str
    path: str  # inside the sandbox's workspace
    expose_as: str  # "mcp" or "library"
    functions: list[dict[str, Any]]  # wire.InterfaceFunction dumps
    token: str
    call_timeout: float
    trusted: bool = False  # served by the operator: may look hidden models up by their real name
    env: dict[str, str] = field(default_factory=dict)
    client_paths: list[str] = field(default_factory=list)  # where library clients were written
    created_at: float = field(default_factory=time.time)


@dataclass
class SnapshotRecord:
    """A sandbox's saved state: the backend's data to start from, and what to rebuild around it."""

    snapshot_id: str
    label: str | None
    sandbox_id: str  # the sandbox it was taken from
    backend: str
    spec: dict[str, Any]
    data: dict[str, Any]  # what Backend.snapshot returned
    workspace: dict[str, Any]  # libraries' modules and docs, skills: the files are in the snapshot already
    sessions: list[dict[str, Any]]  # name, kind, notebook_path of each session open at the time
    created_at: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id, "label": self.label, "sandbox_id": self.sandbox_id,
                "backend": self.backend, "created_at": self.created_at,
                "notebooks": [s["notebook_path"] for s in self.sessions if s["kind"] == "notebook"],
                **({"size_bytes": self.data["size_bytes"]} if "size_bytes" in self.data else {})}


class StateStore:
    """A thin, thread-safe wrapper over one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Columns added since a state file was created."""
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(sessions)")}
        if "model_info" not in columns:
            self._db.execute("ALTER TABLE sessions ADD COLUMN model_info TEXT NOT NULL DEFAULT ''")
        if "library_docs" not in columns:
            self._db.execute("ALTER TABLE sessions ADD COLUMN library_docs TEXT NOT NULL DEFAULT ''")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # sandboxes

    def put_sandbox(self, record: SandboxRecord) -> None:
        row = asdict(record)
        row["spec"] = json.dumps(record.spec)
        row["handle"] = json.dumps(record.handle)
        columns = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO sandboxes ({columns}) VALUES ({marks})", row)

    def sandboxes(self, status: str | None = None) -> list[SandboxRecord]:
        query, args = "SELECT * FROM sandboxes", ()
        if status is not None:
            query, args = query + " WHERE status = ?", (status,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created_at", args).fetchall()
        return [self._sandbox(row) for row in rows]

    def sandbox(self, sandbox_id: str) -> SandboxRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM sandboxes WHERE sandbox_id = ?", (sandbox_id,)).fetchone()
        return self._sandbox(row) if row else None

    def set_status(self, sandbox_id: str, status: str, detail: str = "") -> None:
        with self._lock:
            self._db.execute("UPDATE sandboxes SET status = ?, detail = ? WHERE sandbox_id = ?",
                             (status, detail, sandbox_id))

    def touch(self, sandbox_id: str, when: float) -> None:
        with self._lock:
            self._db.execute("UPDATE sandboxes SET last_active = ? WHERE sandbox_id = ?", (when, sandbox_id))

    # sessions

    def put_session(self, record: SessionRecord) -> None:
        row = asdict(record)
        columns = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO sessions ({columns}) VALUES ({marks})", row)

    def sessions(self, sandbox_id: str | None = None) -> list[SessionRecord]:
        query, args = "SELECT * FROM sessions", ()
        if sandbox_id is not None:
            query, args = query + " WHERE sandbox_id = ?", (sandbox_id,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created_at", args).fetchall()
        return [SessionRecord(**dict(row)) for row in rows]

    def delete_session(self, session_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))

    def delete_sessions_of(self, sandbox_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE sandbox_id = ?", (sandbox_id,))

    # snapshots

    def put_snapshot(self, record: SnapshotRecord) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO snapshots (snapshot_id, created_at, data) VALUES (?, ?, ?)",
                             (record.snapshot_id, record.created_at, json.dumps(asdict(record))))

    def snapshots(self) -> list[SnapshotRecord]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM snapshots ORDER BY created_at").fetchall()
        return [SnapshotRecord(**json.loads(row["data"])) for row in rows]

    def snapshot(self, snapshot_id: str) -> SnapshotRecord | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM snapshots WHERE snapshot_id = ?", (snapshot_id,)).fetchone()
        return SnapshotRecord(**json.loads(row["data"])) if row else None

    def delete_snapshot(self, snapshot_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM snapshots WHERE snapshot_id = ?", (snapshot_id,))

    # interfaces

    def put_interface(self, record: InterfaceRecord) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO interfaces (name, sandbox_id, data) VALUES (?, ?, ?)",
                             (record.name, record.sandbox_id, json.dumps(asdict(record))))

    def interfaces(self, sandbox_id: str | None = None) -> list[InterfaceRecord]:
        query, args = "SELECT data FROM interfaces", ()
        if sandbox_id is not None:
            query, args = query + " WHERE sandbox_id = ?", (sandbox_id,)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [InterfaceRecord(**json.loads(row["data"])) for row in rows]

    def delete_interface(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM interfaces WHERE name = ?", (name,))

    def delete_interfaces_of(self, sandbox_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM interfaces WHERE sandbox_id = ?", (sandbox_id,))

    @staticmethod
    def _sandbox(row: sqlite3.Row) -> SandboxRecord:
        data = dict(row)
        data["spec"] = json.loads(data["spec"])
        data["handle"] = json.loads(data["handle"])
        return SandboxRecord(**data)
