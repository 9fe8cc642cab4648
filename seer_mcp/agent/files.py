"""Files inside the sandbox, confined to its workspace.

Every path is walked beneath the workspace root without ever letting the
kernel follow a link (see seer_mcp.agent.beneath): a path, or a link on it,
that leads out of the workspace raises `PathOutsideSandbox`, and so does one
that a process in the sandbox swaps in while the agent is at work.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from seer_mcp.agent import beneath
from seer_mcp.agent.beneath import NotARegularFile, PathOutsideSandbox
from seer_mcp.wire import FileContent, FileEntry, FileList

__all__ = ["MAX_LIST_ENTRIES", "MAX_READ_BYTES", "NotATextFile", "PathOutsideSandbox", "confine", "list_dir",
           "read_bytes", "read_text", "write_bytes", "write_text"]

MAX_READ_BYTES = 1_000_000
MAX_LIST_ENTRIES = 1000


class NotATextFile(ValueError):
    pass


def confine(root: Path, path: str) -> Path:
    """The real location of `path` (relative to `root`, or absolute), if inside `root`.

    For handing a path to a process that runs inside the sandbox, and opens it
    with the sandbox's own rights. The agent never opens what this returns: a
    link swapped in afterwards would be followed; it uses the functions below.
    """
    real_root = Path(os.path.realpath(root))
    try:
        return real_root / beneath.locate(root, path)
    except (FileNotFoundError, NotADirectoryError):  # nothing there to follow: the rest is read as written
        candidate = Path(os.path.normpath(real_root / path))
        if not candidate.is_relative_to(real_root):
            raise PathOutsideSandbox(
                f"path {path!r} is outside the sandbox; use a path relative to the workspace ({real_root})") from None
        return candidate


def _open_file(root: Path, path: str) -> tuple[int, str]:
    try:
        return beneath.open_file(root, path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise FileNotFoundError(f"no file at {path!r} in the sandbox") from None
    except NotARegularFile:
        raise FileNotFoundError(f"{path!r} is not a regular file (a FIFO, socket or device); "
                                "the agent reads only regular files") from None


def read_text(root: Path, path: str, max_bytes: int = MAX_READ_BYTES) -> FileContent:
    fd, where = _open_file(root, path)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(fd).st_size
        data = f.read(max_bytes)
    if b"\x00" in data[:8192]:
        raise NotATextFile(f"{path!r} is a binary file ({size:,} bytes); read it from a notebook cell instead")
    return FileContent(path=where, content=data.decode(errors="replace"), size=size, truncated=size > max_bytes)


def read_bytes(root: Path, path: str) -> bytes:
    """A whole file's bytes, whatever its size: how the server reads notebooks back."""
    fd, _ = _open_file(root, path)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def write_text(root: Path, path: str, content: str) -> FileEntry:
    return write_bytes(root, path, content.encode())


def write_bytes(root: Path, path: str, data: bytes) -> FileEntry:
    """Replaces the file at `path` atomically, making its directories; a link in the workspace is written through."""
    try:
        where = beneath.replace_file(root, path, data, durable=False)
    except IsADirectoryError:
        raise IsADirectoryError(f"{path!r} is a directory") from None
    except NotADirectoryError:
        raise NotADirectoryError(f"cannot write {path!r}: a part of it is a file, not a directory") from None
    return FileEntry(name=os.path.basename(where), path=where, is_dir=False, size=len(data))


def list_dir(root: Path, path: str = ".") -> FileList:
    try:
        fd, where = beneath.open_dir(root, path)
    except (FileNotFoundError, NotADirectoryError):
        raise NotADirectoryError(f"no directory at {path!r} in the sandbox") from None
    try:
        with os.scandir(fd) as scan:
            children = [(entry.name, _describe(root, where, entry)) for entry in scan]
    finally:
        os.close(fd)
    children.sort(key=lambda child: (not child[1][0], child[0]))
    return FileList(path=where or ".", entries=[
        FileEntry(name=name, path=f"{where}/{name}" if where else name, is_dir=is_dir, size=size)
        for name, (is_dir, size) in children[:MAX_LIST_ENTRIES]])


def _describe(root: Path, where: str, entry: os.DirEntry[str]) -> tuple[bool, int]:
    """(is a directory, size) of a listed entry; a link as what it points to, when that is in the workspace."""
    try:
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            st = beneath.stat_entry(root, f"{where}/{entry.name}" if where else entry.name)
    except (OSError, PathOutsideSandbox):  # dangling, or pointing out of the workspace: shown as a bare entry
        return False, 0
    is_dir = stat.S_ISDIR(st.st_mode)
    return is_dir, 0 if is_dir else st.st_size
