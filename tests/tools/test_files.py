"""Shell commands and files inside a sandbox, confined to its workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastmcp import Client

from tests.conftest import fields_of, open_session, output_of, status_of, text_of

pytestmark = pytest.mark.slow


async def test_sandbox_exec_returns_exit_code_and_both_streams(client: Client) -> None:
    sandbox_id, _ = await open_session(client)
    result = await client.call_tool("sandbox_exec", {"sandbox_id": sandbox_id,
                                                     "command": "echo out; echo err >&2; exit 3"})
    assert result.structured_content is None
    assert [block.type for block in result.content] == ["text"]
    assert text_of(result) == "out\n--- stderr\nerr\n[exit 3]"
    assert output_of(result) == "out\n--- stderr\nerr"
    assert fields_of(result) == {"exit_code": 3, "timed_out": False, "chars_cut": 0,
                                 "stdout_chars": 4, "stderr_chars": 4}


async def test_sandbox_exec_runs_in_the_workspace(client: Client) -> None:
    sandbox_id, _ = await open_session(client)
    workspace = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"][0]["workspace_path"]
    result = await client.call_tool("sandbox_exec", {"command": "pwd"})
    assert os.path.realpath(output_of(result).strip()) == os.path.realpath(workspace)


async def test_sandbox_exec_kills_a_command_at_its_timeout(client: Client) -> None:
    await open_session(client)
    result = await client.call_tool("sandbox_exec", {"command": "echo begun; sleep 30", "timeout": 1})
    data = fields_of(result)
    assert data["timed_out"] is True and data["exit_code"] is None
    assert output_of(result) == "begun" and data["stdout_chars"] == len("begun\n")
    assert status_of(result) == "[killed at its 1 s timeout]"


async def test_sandbox_exec_output_is_cut_to_the_budget(client: Client) -> None:
    await open_session(client)
    result = await client.call_tool("sandbox_exec", {"command": "seq 1 200000"})
    data = fields_of(result)
    stdout = output_of(result)
    assert len(stdout) < 6_000
    assert stdout.startswith("1\n2\n") and stdout.rstrip().endswith("200000")
    assert data["chars_cut"] > 1_000_000
    assert data["stdout_chars"] == len("".join(f"{i}\n" for i in range(1, 200001)))


async def test_files_written_are_read_back_and_listed(client: Client) -> None:
    await open_session(client)
    await client.call_tool("write_file", {"path": "data/notes.txt", "content": "hello\nworld\n"})
    read = await client.call_tool("read_file", {"path": "data/notes.txt"})
    assert read.structured_content is None
    assert text_of(read) == "hello\nworld\n[data/notes.txt · 12 bytes]"
    assert fields_of(read) == {"path": "data/notes.txt", "size": 12, "chars_cut": 0, "truncated": False}
    listing = await client.call_tool("list_files", {"path": "data"})
    assert [(e["name"], e["size"]) for e in listing.structured_content["entries"]] == [("notes.txt", 12)]
    seen_by_kernel = await client.call_tool("execute_code", {"code": "print(open('data/notes.txt').read())"})
    assert "hello" in text_of(seen_by_kernel)


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "data/../../../x"])
async def test_paths_outside_the_sandbox_are_refused(client: Client, path: str) -> None:
    await open_session(client)
    for tool, args in [("read_file", {"path": path}), ("write_file", {"path": path, "content": "x"}),
                       ("list_files", {"path": path})]:
        result = await client.call_tool(tool, args, raise_on_error=False)
        assert result.is_error, tool
        assert "outside the sandbox" in text_of(result)


async def test_a_symlink_out_of_the_sandbox_is_refused(client: Client, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    await open_session(client)
    await client.call_tool("sandbox_exec", {"command": f"ln -s {secret} link.txt"})
    result = await client.call_tool("read_file", {"path": "link.txt"}, raise_on_error=False)
    assert result.is_error
    assert "outside the sandbox" in text_of(result)


async def test_a_missing_file_is_a_clear_error(client: Client) -> None:
    await open_session(client)
    result = await client.call_tool("read_file", {"path": "nope.txt"}, raise_on_error=False)
    assert result.is_error
    assert "no file at 'nope.txt'" in text_of(result)


async def test_a_binary_file_is_refused_with_advice(client: Client) -> None:
    await open_session(client)
    await client.call_tool("sandbox_exec", {"command": "head -c 100 /dev/zero > blob.bin"})
    result = await client.call_tool("read_file", {"path": "blob.bin"}, raise_on_error=False)
    assert result.is_error
    assert "binary" in text_of(result)


async def test_a_command_that_leaves_a_background_job_returns_at_once(client: Client) -> None:
    await open_session(client)
    result = await client.call_tool("sandbox_exec", {"command": "sleep 120 & echo started", "timeout": 30})
    data = fields_of(result)
    assert data["exit_code"] == 0 and data["timed_out"] is False
    assert output_of(result) == "started" and data["stdout_chars"] == len("started\n")
