"""Files inside the sandbox, confined to its workspace.

Every path is resolved (symlinks included) before use and must stay under
the workspace root; anything else raises `PathOutsideSandbox`.
"""

from __future__ import annotations

from pathlib import Path

from seer_mcp.fileio import write_atomically
from seer_mcp.wire import FileContent, FileEntry, FileList

MAX_READ_BYTES = 1_000_000
MAX_LIST_ENTRIES = 1000


class PathOutsideSandbox(ValueError):
    pass


class NotATextFile(ValueError):
    pass


def confine(root: Path, path: str) -> Path:
    """The real location of `path` (relative to `root`, or absolute), if inside `root`."""
    root = root.resolve()
    candidate = (root / path).resolve()  # an absolute `path` replaces root here
    if candidate != root and not candidate.is_relative_to(root):
        raise PathOutsideSandbox(
            f"path {path!r} is outside the sandbox; use a path relative to the workspace ({root})")
    return candidate


def read_text(root: Path, path: str, max_bytes: int = MAX_READ_BYTES) -> FileContent:
    target = confine(root, path)
    if not target.is_file():
        raise FileNotFoundError(f"no file at {path!r} in the sandbox")
    size = target.stat().st_size
    with open(target, "rb") as f:
        data = f.read(max_bytes)
    if b"\x00" in data[:8192]:
        raise NotATextFile(f"{path!r} is a binary file ({size:,} bytes); read it from a notebook cell instead")
    return FileContent(path=str(target.relative_to(root.resolve())), content=data.decode(errors="replace"),
                       size=size, truncated=size > max_bytes)


def write_text(root: Path, path: str, content: str) -> FileEntry:
    return write_bytes(root, path, content.encode())


def write_bytes(root: Path, path: str, data: bytes) -> FileEntry:
    target = confine(root, path)
    if target.is_dir():
        raise IsADirectoryError(f"{path!r} is a directory")
    write_atomically(target, data, durable=False)
    return FileEntry(name=target.name, path=str(target.relative_to(root.resolve())), is_dir=False, size=len(data))


def list_dir(root: Path, path: str = ".") -> FileList:
    target = confine(root, path)
    if not target.is_dir():
        raise NotADirectoryError(f"no directory at {path!r} in the sandbox")
    base = root.resolve()
    entries = []
    for child in sorted(target.iterdir(), key=lambda p: (not p.is_dir(), p.name))[:MAX_LIST_ENTRIES]:
        try:
            is_dir = child.is_dir()
            size = 0 if is_dir else child.stat().st_size
        except OSError:  # a dangling symlink
            is_dir, size = False, 0
        entries.append(FileEntry(name=child.name, path=str(child.relative_to(base)), is_dir=is_dir, size=size))
    return FileList(path=str(target.relative_to(base)) or ".", entries=entries)
