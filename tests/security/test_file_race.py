"""The agent's file tools against a sandbox that swaps links in while they work.

The agent runs outside the sandbox, with more access than it: a path checked
and then opened by name could be swapped for a link to the agent's own files
in between. A racing process (the sandbox) swaps a directory and a file for
links out of the workspace as fast as it can while the agent reads, writes
and lists through them; nothing outside may come back or be written. The
plain cases (links inside and out, "..", absolute paths, FIFOs, big files)
follow, through the functions and through the agent's HTTP app.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from seer_mcp.agent import files
from seer_mcp.agent.app import create_app
from seer_mcp.agent.notebooks import NotebookFile
from seer_mcp.agent.shell_session import ShellSession
from seer_mcp.agent.state import AgentState, SandboxLayout

SECRET = "TOP-SECRET agent credentials"
HARMLESS = "harmless workspace file"
RACE_S = 2.0

# Swaps `victim` (a real directory) with a link to the outside directory, and `file.txt` (a real file) with a
# link to the secret, as fast as it can: atomically with renameat2(RENAME_EXCHANGE), else by renames.
RACER = textwrap.dedent("""
    import ctypes, os, sys
    os.chdir(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    def exchange(a, b):
        if libc.renameat2(-100, a.encode(), -100, b.encode(), 2) != 0:
            raise OSError(ctypes.get_errno(), "renameat2")
    try:
        exchange("file.txt", ".file-swap")
    except (OSError, AttributeError):
        def exchange(a, b):
            os.rename(a, ".hold")
            os.rename(b, a)
            os.rename(".hold", b)
    print("racing", flush=True)
    while True:
        exchange("victim", ".victim-swap")
        exchange("file.txt", ".file-swap")
""")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    root.mkdir()
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """The agent's own files: the secret, in a folder the sandbox must never see or write into."""
    folder = tmp_path / "agent-home"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET)
    return folder


@contextmanager
def racing(workspace: Path, outside: Path) -> Iterator[None]:
    """The sandbox, swapping `victim` and `file.txt` for links out while the block runs."""
    (workspace / "victim").mkdir()
    (workspace / "victim" / "f.txt").write_text(HARMLESS)
    (workspace / ".victim-swap").symlink_to(outside)
    (workspace / "file.txt").write_text(HARMLESS)
    (workspace / ".file-swap").symlink_to(outside / "secret.txt")
    proc = subprocess.Popen([sys.executable, "-c", RACER, str(workspace)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "racing"
        yield
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def racer(workspace: Path, outside: Path) -> Iterator[None]:
    with racing(workspace, outside):
        yield


def hammer(operation: Callable[[int], str]) -> Counter[str]:
    """Runs `operation` for RACE_S seconds; counts its outcomes (what it returned, or the error's type)."""
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + RACE_S
    i = 0
    while time.monotonic() < deadline:
        try:
            outcomes[operation(i)] += 1
        except (files.PathOutsideSandbox, FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            outcomes[type(exc).__name__] += 1
        i += 1
    return outcomes


def assert_outside_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == SECRET


# ----- racing ------------------------------------------------------------------------------------------------


def test_a_read_never_returns_the_secret_however_the_links_are_swapped(
        workspace: Path, outside: Path, racer: None) -> None:
    def read(i: int) -> str:
        return files.read_text(workspace, "file.txt" if i % 2 else "victim/f.txt").content

    outcomes = hammer(read)
    assert SECRET not in outcomes
    assert outcomes[HARMLESS] > 0 and outcomes["PathOutsideSandbox"] > 0, outcomes  # the race did toggle


def test_a_raw_download_never_returns_the_secret_however_the_links_are_swapped(
        workspace: Path, outside: Path, racer: None) -> None:
    def download(i: int) -> str:
        return files.read_bytes(workspace, "file.txt" if i % 2 else "victim/f.txt").decode()

    outcomes = hammer(download)
    assert SECRET not in outcomes
    assert outcomes[HARMLESS] > 0 and outcomes["PathOutsideSandbox"] > 0, outcomes


def test_a_write_never_lands_outside_however_the_links_are_swapped(
        workspace: Path, outside: Path, racer: None) -> None:
    def write(i: int) -> str:
        path = "file.txt" if i % 2 else f"victim/new-{i % 50}.txt"
        return files.write_bytes(workspace, path, b"written by the agent").path.split("/")[0]

    outcomes = hammer(write)
    assert_outside_untouched(outside)
    assert outcomes["PathOutsideSandbox"] > 0, outcomes
    assert outcomes["victim"] + outcomes["file.txt"] > 0, outcomes


def test_a_listing_never_shows_what_is_outside_however_the_links_are_swapped(
        workspace: Path, outside: Path, racer: None) -> None:
    def listing(i: int) -> str:
        return ",".join(entry.name for entry in files.list_dir(workspace, "victim").entries)

    outcomes = hammer(listing)
    assert not any("secret" in outcome for outcome in outcomes), outcomes
    assert outcomes["PathOutsideSandbox"] > 0, outcomes
    assert any("f.txt" in outcome for outcome in outcomes), outcomes


# ----- links, "..", absolute paths ---------------------------------------------------------------------------


def test_a_link_to_a_file_inside_reads_that_file(workspace: Path) -> None:
    (workspace / "data").mkdir()
    (workspace / "data" / "notes.txt").write_text("hello")
    (workspace / "notes-link").symlink_to("data/notes.txt")
    read = files.read_text(workspace, "notes-link")
    assert (read.content, read.path) == ("hello", "data/notes.txt")


def test_an_absolute_link_to_a_folder_inside_is_followed(workspace: Path) -> None:
    (workspace / "data").mkdir()
    (workspace / "data" / "notes.txt").write_text("hello")
    (workspace / "shortcut").symlink_to(workspace / "data")
    assert files.read_text(workspace, "shortcut/notes.txt").content == "hello"
    assert [e.name for e in files.list_dir(workspace, "shortcut").entries] == ["notes.txt"]


def test_writing_through_a_link_inside_replaces_its_target(workspace: Path) -> None:
    (workspace / "real.txt").write_text("old")
    (workspace / "link.txt").symlink_to("real.txt")
    entry = files.write_text(workspace, "link.txt", "new")
    assert entry.path == "real.txt"
    assert (workspace / "real.txt").read_text() == "new" and (workspace / "link.txt").is_symlink()


@pytest.mark.parametrize("target", ["secret.txt", "."], ids=["file", "folder"])
def test_a_link_out_of_the_workspace_is_refused(workspace: Path, outside: Path, target: str) -> None:
    (workspace / "link").symlink_to(outside / target)
    path = "link" if target != "." else "link/secret.txt"
    with pytest.raises(files.PathOutsideSandbox, match="outside the sandbox"):
        files.read_text(workspace, path)
    with pytest.raises(files.PathOutsideSandbox, match="outside the sandbox"):
        files.write_text(workspace, path, "overwritten")
    assert_outside_untouched(outside)


def test_a_relative_link_that_climbs_out_is_refused(workspace: Path, outside: Path) -> None:
    (workspace / "sub").mkdir()
    (workspace / "sub" / "up").symlink_to(f"../../{outside.name}/secret.txt")
    with pytest.raises(files.PathOutsideSandbox):
        files.read_text(workspace, "sub/up")


def test_a_listing_shows_a_link_out_as_a_bare_entry(workspace: Path, outside: Path) -> None:
    (workspace / "out").symlink_to(outside)
    (workspace / "secret").symlink_to(outside / "secret.txt")
    entries = {e.name: (e.is_dir, e.size) for e in files.list_dir(workspace).entries}
    assert entries == {"out": (False, 0), "secret": (False, 0)}


@pytest.mark.parametrize("path", ["../agent-home/secret.txt", "sub/../../agent-home/secret.txt", "..",
                                  "missing/../../agent-home/secret.txt", "/etc/passwd"])
def test_paths_that_leave_the_workspace_are_refused(workspace: Path, outside: Path, path: str) -> None:
    (workspace / "sub").mkdir()
    for call in (lambda: files.read_text(workspace, path), lambda: files.write_text(workspace, path, "x"),
                 lambda: files.list_dir(workspace, path), lambda: files.read_bytes(workspace, path)):
        with pytest.raises(files.PathOutsideSandbox, match=r"use a path relative to the workspace"):
            call()
    assert_outside_untouched(outside)


def test_an_absolute_path_inside_the_workspace_is_accepted(workspace: Path) -> None:
    (workspace / "a.txt").write_text("hello")
    assert files.read_text(workspace, str(workspace / "a.txt")).path == "a.txt"
    assert files.list_dir(workspace, str(workspace)).path == "."


def test_dotdot_that_stays_inside_is_accepted(workspace: Path) -> None:
    (workspace / "sub").mkdir()
    (workspace / "a.txt").write_text("hello")
    assert files.read_text(workspace, "sub/../a.txt").path == "a.txt"


def test_a_dangling_link_inside_is_a_missing_file_and_is_written_through(workspace: Path) -> None:
    (workspace / "dangling").symlink_to("later/made.txt")
    with pytest.raises(FileNotFoundError, match="no file at 'dangling'"):
        files.read_text(workspace, "dangling")
    assert files.write_text(workspace, "dangling", "now").path == "later/made.txt"
    assert files.read_text(workspace, "dangling").content == "now"


def test_a_loop_of_links_ends_in_an_error(workspace: Path) -> None:
    (workspace / "a").symlink_to("b")
    (workspace / "b").symlink_to("a")
    with pytest.raises(OSError, match="too many levels of links"):
        files.read_text(workspace, "a")


def test_confine_names_the_real_location_and_refuses_a_link_out(workspace: Path, outside: Path) -> None:
    (workspace / "iface.py").write_text("")
    (workspace / "alias.py").symlink_to("iface.py")
    (workspace / "out.py").symlink_to(outside / "secret.txt")
    assert files.confine(workspace, "alias.py") == workspace.resolve() / "iface.py"
    assert files.confine(workspace, "not/yet.py") == workspace.resolve() / "not/yet.py"
    with pytest.raises(files.PathOutsideSandbox):
        files.confine(workspace, "out.py")


# ----- what is not a plain file -------------------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_a_fifo_is_refused_without_blocking(workspace: Path) -> None:
    os.mkfifo(workspace / "pipe")
    (workspace / "pipe-link").symlink_to("pipe")
    for path in ("pipe", "pipe-link"):
        with pytest.raises(FileNotFoundError, match="not a regular file"):
            files.read_text(workspace, path)
        with pytest.raises(FileNotFoundError, match="not a regular file"):
            files.read_bytes(workspace, path)
    assert [(e.name, e.is_dir, e.size) for e in files.list_dir(workspace).entries] == [
        ("pipe", False, 0), ("pipe-link", False, 0)]


def test_a_directory_is_not_read_as_a_file_nor_overwritten(workspace: Path) -> None:
    (workspace / "sub").mkdir()
    with pytest.raises(FileNotFoundError, match="no file at 'sub'"):
        files.read_text(workspace, "sub")
    with pytest.raises(IsADirectoryError, match="'sub' is a directory"):
        files.write_text(workspace, "sub", "x")
    with pytest.raises(NotADirectoryError, match="no directory at 'missing'"):
        files.list_dir(workspace, "missing")


def test_a_huge_file_is_read_truncated(workspace: Path) -> None:
    (workspace / "big.txt").write_bytes(b"x" * (files.MAX_READ_BYTES * 3))
    read = files.read_text(workspace, "big.txt")
    assert read.truncated and read.size == files.MAX_READ_BYTES * 3 and len(read.content) == files.MAX_READ_BYTES


def test_a_write_makes_its_folders_and_leaves_no_temporary_file(workspace: Path) -> None:
    entry = files.write_bytes(workspace, "a/b/c.bin", b"\x00\x01")
    assert (entry.name, entry.path, entry.size) == ("c.bin", "a/b/c.bin", 2)
    assert (workspace / "a/b/c.bin").read_bytes() == b"\x00\x01"
    assert [p.name for p in (workspace / "a/b").iterdir()] == ["c.bin"]


# ----- the agent's own files in the workspace: notebooks and transcripts -------------------------------------


def test_a_notebook_is_not_saved_through_a_link_out(workspace: Path, outside: Path, tmp_path: Path) -> None:
    notebook = NotebookFile(workspace / "notebooks" / "n.ipynb", tmp_path / "mirror" / "n.ipynb", workspace=workspace)
    notebook.append_markdown("first")
    mirror, saved = (tmp_path / "mirror" / "n.ipynb").stat(), (workspace / "notebooks" / "n.ipynb").stat()
    assert mirror.st_ino == saved.st_ino  # the mirror is still one hard link of the file written, not a second write
    (workspace / "notebooks" / "n.ipynb").unlink()
    (workspace / "notebooks").rmdir()
    (workspace / "notebooks").symlink_to(outside)
    with pytest.raises(files.PathOutsideSandbox):
        notebook.append_markdown("second")
    assert_outside_untouched(outside)


async def test_a_shell_transcript_is_not_appended_through_a_link_out(
        workspace: Path, outside: Path, tmp_path: Path) -> None:
    shell = ShellSession("s1", "shell", workspace, {}, tmp_path / "shells" / "s1",
                         workspace / "notebooks" / "s1.transcript.txt")
    shell.start()
    assert b"started in" in shell.transcript_bytes()
    (workspace / "notebooks" / "s1.transcript.txt").unlink()
    (workspace / "notebooks" / "s1.transcript.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(files.PathOutsideSandbox):
        await shell.restart()
    with pytest.raises(files.PathOutsideSandbox):
        shell.transcript_bytes()
    assert_outside_untouched(outside)


def test_a_shell_state_folder_swapped_for_a_link_out_is_refused(
        workspace: Path, outside: Path, tmp_path: Path) -> None:
    (tmp_path / "shells").mkdir()
    (tmp_path / "shells" / "s2").symlink_to(outside)
    shell = ShellSession("s2", "shell", workspace, {}, tmp_path / "shells" / "s2",
                         workspace / "notebooks" / "s2.transcript.txt")
    with pytest.raises(files.PathOutsideSandbox):
        shell.start()
    assert_outside_untouched(outside)


# ----- through the agent's HTTP app ---------------------------------------------------------------------------


@pytest.fixture
async def agent_http(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    layout = SandboxLayout(root=tmp_path / "sandbox", runtime=tmp_path / "run")
    layout.create()
    app = create_app(AgentState(layout, kernel_env={}, mirror_dir=None), "token", stop=lambda: None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent",
                                 headers={"Authorization": "Bearer token"}) as http:
        yield http, layout.workspace


async def test_the_agent_refuses_a_link_out_on_every_file_route(
        agent_http: tuple[httpx.AsyncClient, Path], outside: Path) -> None:
    http, workspace = agent_http
    (workspace / "out").symlink_to(outside)
    (workspace / "secret").symlink_to(outside / "secret.txt")
    replies = [await http.get("/files", params={"path": "secret"}),
               await http.get("/files/raw", params={"path": "out/secret.txt"}),
               await http.get("/files/list", params={"path": "out"}),
               await http.put("/files/raw", params={"path": "out/planted.txt"}, content=b"x"),
               await http.put("/files", json={"path": "secret", "content": "overwritten"})]
    assert [(r.status_code, r.json()["error"]) for r in replies] == [(403, "outside_sandbox")] * 5
    assert all(SECRET not in r.text for r in replies)
    assert_outside_untouched(outside)


async def test_the_agent_serves_a_file_through_a_link_inside(agent_http: tuple[httpx.AsyncClient, Path]) -> None:
    http, workspace = agent_http
    (workspace / "data").mkdir()
    (workspace / "data" / "blob.bin").write_bytes(b"\x00" * 10)
    (workspace / "blob-link").symlink_to("data/blob.bin")
    reply = await http.get("/files/raw", params={"path": "blob-link"})
    assert (reply.status_code, reply.content) == (200, b"\x00" * 10)
    missing = await http.get("/files/raw", params={"path": "nope.bin"})
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")


@pytest.mark.timeout(10)
async def test_the_agent_answers_a_fifo_at_once(agent_http: tuple[httpx.AsyncClient, Path]) -> None:
    http, workspace = agent_http
    os.mkfifo(workspace / "pipe")
    for route in ("/files", "/files/raw"):
        reply = await http.get(route, params={"path": "pipe"})
        assert (reply.status_code, reply.json()["error"]) == (404, "not_found")


async def test_the_agent_never_serves_the_secret_while_links_are_swapped(
        agent_http: tuple[httpx.AsyncClient, Path], outside: Path) -> None:
    http, workspace = agent_http
    statuses: Counter[int] = Counter()
    with racing(workspace, outside):
        deadline = time.monotonic() + RACE_S
        while time.monotonic() < deadline:
            reply = await http.get("/files/raw", params={"path": "file.txt"})
            assert SECRET not in reply.text
            statuses[reply.status_code] += 1
    assert statuses[200] > 0 and statuses[403] > 0, statuses
