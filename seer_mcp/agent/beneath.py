"""Paths opened beneath a directory that its other users may change at any moment.

The agent runs outside the sandbox, with more access than the sandbox, on
directories the sandbox can write: checking a path and then opening it lets a
sandbox swap a link in between and have the agent read or write what it
points to. So nothing here opens a path by its name. A path is walked from
the root's file descriptor one component at a time, each opened relative to
the one before with O_NOFOLLOW: a link is never followed by the kernel, only
read (readlinkat) and its target walked again the same way, from the root.
".." steps back along the directories already opened, never above the root.
Whatever the sandbox renames or swaps meanwhile, every file descriptor held
lies beneath the root, so every open, mkdir and rename made through them does.

Links inside the root keep working, absolute ones too when they name a place
beneath the root; a link that leads out of it is refused like a path that does.
Files that are not regular (a FIFO, a socket, a device) are refused before
they are opened, and opened non-blocking in case one is swapped in.

openat2(RESOLVE_BENEATH) would do the walk in the kernel, but it refuses
absolute links that point inside, and older kernels, some seccomp profiles
and user-space kernels such as gVisor may not offer it: one walk, the same
everywhere, is easier to trust than two.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from seer_mcp.fileio import place_copy, write_atomically

# As the kernel's own limit (MAXSYMLINKS): a loop of links ends instead of spinning.
MAX_LINK_HOPS = 40

_O_PATH = getattr(os, "O_PATH", os.O_RDONLY)  # Linux; elsewhere a plain read-only descriptor does
_DIR = _O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

# A directory that changes this often between two calls on it is someone racing us: give up.
_RETRIES = 8

T = TypeVar("T")


class PathOutsideSandbox(ValueError):
    pass


class NotARegularFile(OSError):
    """A FIFO, socket or device: reading one could block the agent or reach outside the sandbox."""


class _Link(Exception):
    def __init__(self, target: str) -> None:
        self.target = target


# One step of the walk does something with the last component: (directory fd, name, path from the root).
Step = Callable[[int, str, str], T]


def _walk(root: Path, path: str, last: Step[T], *, create_dirs: bool = False) -> T:
    """Walks `path` beneath `root` and runs `last` on its final component, held by its directory's fd.

    `last` raises `_Link` when that component turns out to be a link; its
    target is then walked in its place. A path that names a directory itself
    ("", ".", "a/..") reaches `last` as "." in that directory.
    """
    real_root = os.path.realpath(root)
    refused = PathOutsideSandbox(
        f"path {path!r} is outside the sandbox; use a path relative to the workspace ({real_root})")
    parts = deque(_relative_parts(path, root, real_root, refused))
    if _climbs_out(parts):  # refused as written, even where what it climbs through is missing
        raise refused
    root_fd = os.open(real_root, _DIR)
    stack: list[tuple[int, str]] = []  # the directories opened below the root, with their names
    hops = 0
    try:
        while True:
            if not parts:
                last_name = "."
            else:
                name = parts.popleft()
                if name == "..":
                    if not stack:
                        raise refused
                    os.close(stack.pop()[0])
                    continue
                last_name = name if not parts else ""
            here = stack[-1][0] if stack else root_fd
            where = "/".join([n for _, n in stack] + ([last_name] if last_name not in ("", ".") else []))
            try:
                if last_name:
                    return last(here, last_name, where)
                stack.append((_open_dir(here, name, create_dirs), name))
                continue
            except _Link as link:
                target = link.target
            hops += 1
            if hops > MAX_LINK_HOPS:
                raise OSError(errno.ELOOP, f"too many levels of links resolving {path!r} in the sandbox")
            if target.startswith("/"):
                while stack:
                    os.close(stack.pop()[0])
            parts.extendleft(reversed(_relative_parts(target, root, real_root, refused)))
    finally:
        for fd, _ in stack:
            os.close(fd)
        os.close(root_fd)


def _relative_parts(path: str, root: Path, real_root: str, refused: PathOutsideSandbox) -> list[str]:
    """`path`'s components below the root; an absolute path must name the root or a place under it."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not path.startswith("/"):
        return parts
    for prefix in {os.path.abspath(root), real_root}:
        names = [p for p in prefix.split("/") if p]
        if parts[:len(names)] == names:
            return parts[len(names):]
    raise refused


def _climbs_out(parts: deque[str]) -> bool:
    depth = 0
    for name in parts:
        depth += -1 if name == ".." else 1
        if depth < 0:
            return True
    return False


def _open_dir(here: int, name: str, create: bool) -> int:
    tries = 0
    while True:
        try:
            fd = os.open(name, _DIR, dir_fd=here)
        except FileNotFoundError:
            if not create or tries == _RETRIES:
                raise
            tries += 1
            with contextlib.suppress(FileExistsError):  # made meanwhile: opened, and checked, on the next turn
                os.mkdir(name, 0o777, dir_fd=here)
            continue
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            _raise_if_link(here, name)
            if tries == _RETRIES or not _is_dir(here, name):
                raise
            tries += 1  # a link when opened, a directory again now: swapped back meanwhile, so try again
            continue
        if not stat.S_ISDIR(os.fstat(fd).st_mode):  # an O_PATH descriptor of something else: never step into it
            os.close(fd)
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", name)
        return fd


def _raise_if_link(here: int, name: str) -> None:
    try:
        target = os.readlink(name, dir_fd=here)
    except OSError:  # not a link (EINVAL), or gone: the caller's own error stands
        return
    raise _Link(target)


def _link_met(here: int, name: str) -> NoReturn:
    """An open refused `name` as a link (ELOOP): walk its target, or the name again if it changed meanwhile."""
    _raise_if_link(here, name)
    raise _Link(name)


def _is_dir(here: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=here, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _lstat(here: int, name: str) -> os.stat_result:
    """The entry itself; a link raises `_Link` to be walked instead."""
    st = os.stat(name, dir_fd=here, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        _link_met(here, name)
    return st


# ----- what the agent does beneath a root --------------------------------------


def open_file(root: Path, path: str) -> tuple[int, str]:
    """A read-only descriptor of the regular file at `path`, and its real path from the root.

    Raises FileNotFoundError, IsADirectoryError, NotADirectoryError (a file
    where a directory should be), NotARegularFile or PathOutsideSandbox.
    """
    def step(here: int, name: str, where: str) -> tuple[int, str]:
        _check_regular(_lstat(here, name), path)
        return _open_regular(here, name, os.O_RDONLY, path), where
    return _walk(root, path, step)


def _open_regular(here: int, name: str, flags: int, path: str) -> int:
    """`name` in directory `here`, opened with `flags` but never through a link, and only a regular file."""
    flags |= os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o666, dir_fd=here)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link, or swapped for one since it was looked at
            _link_met(here, name)
        raise
    try:
        _check_regular(os.fstat(fd), path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_regular(st: os.stat_result, path: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    if not stat.S_ISREG(st.st_mode):
        raise NotARegularFile(errno.EINVAL, "not a regular file (a FIFO, socket or device)", path)


def open_dir(root: Path, path: str) -> tuple[int, str]:
    """A descriptor of the directory at `path` that os.scandir takes, and its real path from the root."""
    def step(here: int, name: str, where: str) -> tuple[int, str]:
        child = _open_dir(here, name, create=False)
        try:
            return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=child), where
        finally:
            os.close(child)
    return _walk(root, path, step)


def stat_entry(root: Path, path: str) -> os.stat_result:
    """What `path` is, a link followed only while it stays beneath the root."""
    return _walk(root, path, lambda here, name, where: _lstat(here, name))


def locate(root: Path, path: str) -> str:
    """`path`'s real location from the root, links inside followed; the last component need not exist."""
    def step(here: int, name: str, where: str) -> str:
        with contextlib.suppress(FileNotFoundError):
            _lstat(here, name)
        return where
    return _walk(root, path, step)


def replace_file(root: Path, path: str, data: bytes, *, durable: bool, mode: int = 0o600,
                 copies: tuple[Path, ...] = ()) -> str:
    """Atomically puts `data` at `path` (its parent directories made) and returns its real path from the root.

    As seer_mcp.fileio.write_atomically, but beneath the root: a temporary file
    beside the target, renamed over it within the one directory fd. A link at
    `path` is followed (its target replaced) while it stays beneath the root.
    `copies` lie outside the root, where the sandbox cannot reach.
    """
    def step(here: int, name: str, where: str) -> str:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISDIR(_lstat(here, name).st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        tmp = f".{name}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=here)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                if durable:
                    os.fsync(fd)
                _place_copies(fd, copies, data)
            os.rename(tmp, name, src_dir_fd=here, dst_dir_fd=here)  # a link swapped in meanwhile is replaced
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=here)
            raise
        return where
    return _walk(root, path, step, create_dirs=True)


def _place_copies(fd: int, copies: tuple[Path, ...], data: bytes) -> None:
    """Hard links of the file open at `fd`, taken from the descriptor: the sandbox may have swapped its name."""
    if not copies:
        return
    try:
        proc = os.open("/proc", _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:  # no /proc: the bytes are written again
        proc = None
    try:
        for copy in copies:
            if proc is None:
                write_atomically(copy, data, durable=False)
            else:  # linkat(/proc, "self/fd/N", AT_SYMLINK_FOLLOW) links the open file itself
                place_copy(f"self/fd/{fd}", copy, data, src_dir_fd=proc)
    finally:
        if proc is not None:
            os.close(proc)


def open_append(root: Path, path: str) -> int:
    """A descriptor appending to the regular file at `path`, made (with its directories) if missing."""
    def step(here: int, name: str, where: str) -> int:
        with contextlib.suppress(FileNotFoundError):
            _check_regular(_lstat(here, name), path)
        return _open_regular(here, name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, path)
    return _walk(root, path, step, create_dirs=True)


def remove(root: Path, path: str) -> None:
    """Unlinks the entry at `path` itself (a link, not what it points to).

    Nothing there, or a path that now leads out of the root, is no error: there is nothing of ours to remove.
    """
    def step(here: int, name: str, where: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=here)
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, PathOutsideSandbox):
        _walk(root, path, step)
