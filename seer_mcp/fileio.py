"""Crash-safe file writes shared by the server and the sandbox agent."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int | None = None, durable: bool = True) -> None:
    """Replace `path` with `data` so readers never see a partial file.

    Writes a temporary file beside the target and renames it over the target:
    whenever a process dies, the old or the new version is there. `durable`
    also fsyncs before the rename, so that holds through a machine crash too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
