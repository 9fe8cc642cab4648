"""Crash-safe file writes shared by the server and the sandbox agent."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int | None = None, durable: bool = True,
                     copies: tuple[Path, ...] = ()) -> None:
    """Replace `path` (and each of `copies`) with `data` so readers never see a partial file.

    Writes a temporary file beside the target and renames it over the target:
    whenever a process dies, the old or the new version is there. `durable`
    also fsyncs before the rename, so that holds through a machine crash too.
    Copies on the same filesystem are hard links of the one temporary file,
    renamed into place: the bytes are written once however many copies there are.
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
        for copy in copies:
            place_copy(tmp, copy, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def place_copy(tmp: str, copy: Path, data: bytes, src_dir_fd: int | None = None) -> None:
    """Puts `copy` in place as a hard link of the file `tmp` (from `src_dir_fd`), or as a copy of `data`."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    staged = copy.with_name(f".{copy.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(staged)
    try:
        os.link(tmp, staged, src_dir_fd=src_dir_fd)  # with a dir fd: linkat(AT_SYMLINK_FOLLOW)
    except OSError:  # another filesystem, or no hard links there: write the bytes again
        write_atomically(copy, data, durable=False)
        return
    os.replace(staged, copy)
