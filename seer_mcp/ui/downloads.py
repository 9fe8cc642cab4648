"""Files a person downloads from the web UI: a session's .ipynb and a transcript.

Which transcript: a cli session's is its own (the shell transcript, the same
text as its `.transcript.txt` copy). A notebook session has none of its own; the
agent's conversation is recorded only when the harness runs it (`seer-mcp run`,
`seer_mcp.harness`), in `<outputs>/transcripts/*.jsonl`. We offer the newest such
file that names the session, else the newest written since the session started,
else answer 404 saying where transcripts come from.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from seer_mcp.errors import NotFound

if TYPE_CHECKING:
    from seer_mcp.manager.facade import SandboxManager
    from seer_mcp.manager.state import SessionRecord

# Transcripts past this size are not searched for the session id (they are still offered by date).
_SCAN_LIMIT_BYTES = 64 * 1024 * 1024


async def notebook_file(request: Request, manager: "SandboxManager") -> Response:
    session_id = request.path_params["session_id"]
    record, _ = manager.session(session_id)
    if record.kind != "notebook":
        raise NotFound(f"session {session_id} is a cli session: it has no notebook; download its transcript")
    data = await manager.notebook_bytes(session_id)
    return Response(data, media_type="application/x-ipynb+json",
                    headers={"Content-Disposition": _attachment(Path(record.notebook_path).name)})


async def transcript_file(request: Request, manager: "SandboxManager") -> Response:
    session_id = request.path_params["session_id"]
    record, _ = manager.session(session_id)
    if record.kind == "cli":
        data = await manager.notebook_bytes(session_id)
        return Response(data, media_type="text/plain; charset=utf-8",
                        headers={"Content-Disposition": _attachment(f"{Path(record.notebook_path).stem}.txt")})
    found = await asyncio.to_thread(harness_transcript, manager.settings.outputs_dir / "transcripts", record)
    if found is None:
        raise NotFound(f"no agent transcript for session {session_id}: transcripts are written when the harness "
                       f"runs the agent (seer-mcp run), to {manager.settings.outputs_dir / 'transcripts'}")
    return Response(await asyncio.to_thread(found.read_bytes), media_type="application/x-ndjson",
                    headers={"Content-Disposition": _attachment(found.name)})


def harness_transcript(folder: Path, record: "SessionRecord") -> Path | None:
    """The harness transcript that belongs to a notebook session, by the rule in the module docstring."""
    if not folder.is_dir():
        return None
    files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    needle = record.session_id.encode()
    for path in files:
        if path.stat().st_size <= _SCAN_LIMIT_BYTES and needle in path.read_bytes():
            return path
    recent = [p for p in files if p.stat().st_mtime >= record.created_at]
    return recent[0] if recent else None


def _attachment(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "download"
    return f'attachment; filename="{safe}"'
