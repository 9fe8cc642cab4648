"""One suite that every backend passes, through MCP tool calls only.

Each test runs once per backend (the `backend` fixture): sandboxes, notebook
and cli sessions, files, interfaces and snapshots must behave the same
whether the agent runs on this machine or in a (fake) Modal container.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import mcp_types
import nbformat
import pytest
from fastmcp import Client
from PIL import Image

from tests.conftest import fields_of, notebook_cells, output_of, status_of, text_of

pytestmark = pytest.mark.slow

PLOT = "import matplotlib.pyplot as plt\nplt.figure(figsize=(4, 3))\nplt.plot([1, 3, 2])\nplt.show()"


async def create(client: Client, **args: Any) -> dict[str, Any]:
    return (await client.call_tool("create_sandbox", args)).structured_content


async def start(client: Client, sandbox_id: str, kind: str = "notebook") -> dict[str, Any]:
    return (await client.call_tool("start_session", {"sandbox_id": sandbox_id, "kind": kind})).structured_content


async def run(client: Client, session_id: str, code: str, **args: Any) -> Any:
    return await client.call_tool("execute_code", {"session_id": session_id, "code": code, **args},
                                  raise_on_error=False)


async def test_a_notebook_session_runs_cells_keeps_its_notebook_and_ends_with_the_sandbox(backend: Client) -> None:
    sandbox = await create(backend)
    assert sandbox["status"] == "running"
    session = await start(backend, sandbox["sandbox_id"])
    session_id = session["session_id"]

    printed = await run(backend, session_id, "print('hello', 6 * 7)")
    assert not printed.is_error and output_of(printed).strip() == "hello 42"
    assert printed.structured_content is None and fields_of(printed)["status"] == "ok"

    plotted = await run(backend, session_id, PLOT)
    images = [b for b in plotted.content if isinstance(b, mcp_types.ImageContent)]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    assert Image.open(io.BytesIO(base64.b64decode(images[0].data))).size[0] > 100
    assert "[image 1: image/png, attached below]" in text_of(plotted)

    failed = await run(backend, session_id, "def divide(a, b):\n    return a / b\n\ndivide(1, 0)")
    assert failed.is_error
    assert failed.structured_content is None
    assert fields_of(failed)["error"]["ename"] == "ZeroDivisionError"
    assert "return a / b" in output_of(failed)

    page = await backend.call_tool("read_notebook", {"session_id": session_id})
    assert page.structured_content is None
    assert fields_of(page)["total_cells"] == 3
    assert notebook_cells(page)[0]["output"].strip() == "hello 42"

    copy = Path(session["notebook_copy"])
    assert copy.is_relative_to(sandbox["outputs_path"])
    notebook = nbformat.read(copy, as_version=4)
    nbformat.validate(notebook)
    assert len(notebook.cells) == 3 and notebook.cells[0].source == "print('hello', 6 * 7)"

    ended = await backend.call_tool("terminate_sandbox", {"sandbox_id": sandbox["sandbox_id"]})
    assert ended.structured_content["status"] == "terminated"
    listing = (await backend.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
    assert sandbox["sandbox_id"] not in [s["sandbox_id"] for s in listing]
    after = await run(backend, session_id, "1 + 1")
    assert after.is_error and session_id in text_of(after)
    assert nbformat.read(copy, as_version=4).cells  # the notebook outlives its sandbox


async def test_a_cell_past_its_timeout_is_interrupted_and_the_kernel_keeps_its_state(backend: Client) -> None:
    session_id = (await start(backend, (await create(backend))["sandbox_id"]))["session_id"]
    await run(backend, session_id, "kept = 'still here'")
    slow = await run(backend, session_id, "import time\ntime.sleep(30)", timeout=1)
    assert slow.is_error and fields_of(slow)["status"] == "timeout"
    assert "interrupted" in fields_of(slow)["message"] and "interrupted" in status_of(slow)
    after = await run(backend, session_id, "print(kept)")
    assert output_of(after).strip() == "still here"


async def test_a_kernel_that_exits_is_reported_dead_and_restart_recovers(backend: Client) -> None:
    session_id = (await start(backend, (await create(backend))["sandbox_id"]))["session_id"]
    await run(backend, session_id, "before = 1")
    died = await run(backend, session_id, "import os\nos._exit(1)")
    assert died.is_error and fields_of(died)["status"] == "dead"
    assert "kernel died, state lost" in text_of(died)
    await backend.call_tool("restart_kernel", {"session_id": session_id})
    fresh = await run(backend, session_id, "'before' in globals()")
    assert not fresh.is_error and output_of(fresh) == "False"


async def test_a_cli_session_carries_its_directory_and_variables_over_and_keeps_a_transcript(backend: Client
                                                                                             ) -> None:
    session = await start(backend, (await create(backend))["sandbox_id"], kind="cli")
    session_id = session["session_id"]
    await run(backend, session_id, "mkdir -p deep/er && cd deep/er")
    await run(backend, session_id, "export GREETING=conformance")
    where = await run(backend, session_id, 'echo "$GREETING in $(basename "$PWD")"')
    assert not where.is_error and output_of(where).strip() == "conformance in er"
    transcript = Path(session["transcript_copy"]).read_text()
    assert "export GREETING=conformance" in transcript and 'echo "$GREETING' in transcript


async def test_a_cli_command_that_fails_or_runs_too_long_is_an_error(backend: Client) -> None:
    session_id = (await start(backend, (await create(backend))["sandbox_id"], kind="cli"))["session_id"]
    failed = await run(backend, session_id, "echo partial; exit 4")
    assert failed.is_error and fields_of(failed)["status"] == "error"
    assert "partial" in output_of(failed) and "4" in fields_of(failed)["message"]
    assert fields_of(failed)["message"] in status_of(failed)
    slow = await run(backend, session_id, "echo begun; sleep 30", timeout=1)
    assert slow.is_error and fields_of(slow)["status"] == "timeout"
    assert "killed" in fields_of(slow)["message"] and "killed" in status_of(slow)
    still = await run(backend, session_id, "echo alive")
    assert not still.is_error and output_of(still).strip() == "alive"


async def test_files_written_are_read_back_listed_and_seen_by_commands(backend: Client) -> None:
    sandbox_id = (await create(backend))["sandbox_id"]
    written = await backend.call_tool("write_file", {"sandbox_id": sandbox_id, "path": "data/notes.txt",
                                                     "content": "hello\nworld\n"})
    assert written.structured_content["size"] == 12
    read = await backend.call_tool("read_file", {"sandbox_id": sandbox_id, "path": "data/notes.txt"})
    assert read.structured_content is None
    assert text_of(read) == "hello\nworld\n[data/notes.txt · 12 bytes]"
    assert fields_of(read)["size"] == 12 and fields_of(read)["truncated"] is False
    listing = await backend.call_tool("list_files", {"sandbox_id": sandbox_id, "path": "data"})
    assert [(e["name"], e["size"]) for e in listing.structured_content["entries"]] == [("notes.txt", 12)]
    counted = await backend.call_tool("sandbox_exec", {"sandbox_id": sandbox_id, "command": "wc -l < data/notes.txt"})
    assert counted.structured_content is None
    assert fields_of(counted)["exit_code"] == 0 and output_of(counted).strip() == "2"
    code = await backend.call_tool("sandbox_exec", {"sandbox_id": sandbox_id, "command": "echo err >&2; exit 3"})
    assert fields_of(code)["exit_code"] == 3 and text_of(code) == "--- stderr\nerr\n[exit 3]"
    assert fields_of(code)["stdout_chars"] == 0 and fields_of(code)["stderr_chars"] == 4


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd"])
async def test_a_path_outside_the_workspace_is_refused(backend: Client, path: str) -> None:
    sandbox_id = (await create(backend))["sandbox_id"]
    for tool, args in [("read_file", {"path": path}), ("write_file", {"path": path, "content": "x"}),
                       ("list_files", {"path": path})]:
        result = await backend.call_tool(tool, {"sandbox_id": sandbox_id, **args}, raise_on_error=False)
        assert result.is_error, tool
        assert "outside the sandbox" in text_of(result)


async def test_an_interfaces_functions_are_tools_and_can_be_called_by_name(backend: Client) -> None:
    await create(backend)
    code = "@expose\ndef add(a: int, b: int = 2) -> int:\n    return a + b\n"
    served = await backend.call_tool("serve_interface", {"name": "calc", "code": code})
    assert [f["tool"] for f in served.structured_content["functions"]] == ["calc_add"]
    assert "calc_add" in {tool.name for tool in await backend.list_tools()}
    as_tool = await backend.call_tool("calc_add", {"a": 1})
    assert as_tool.structured_content is None
    assert text_of(as_tool) == "3\n[calc.add · returned JSON]"
    by_name = await backend.call_tool("call_interface", {"name": "calc", "function": "add",
                                                         "arguments": {"a": 1, "b": 5}})
    assert by_name.structured_content is None
    assert text_of(by_name) == "6\n[calc.add · returned JSON]"


async def test_a_snapshot_restored_with_replay_brings_back_files_and_variables(backend: Client) -> None:
    sandbox_id = (await create(backend))["sandbox_id"]
    session_id = (await start(backend, sandbox_id))["session_id"]
    await run(backend, session_id, "x = 41 + 1")
    await run(backend, session_id, "1 / 0")  # fails again when replayed
    await run(backend, session_id, "y = x * 2")
    await backend.call_tool("write_file", {"sandbox_id": sandbox_id, "path": "data/kept.txt", "content": "kept"})

    snapshot = (await backend.call_tool("snapshot_sandbox", {"sandbox_id": sandbox_id, "label": "conformance"})
                ).structured_content
    snapshot_id = snapshot["snapshot_id"]
    listed = (await backend.call_tool("list_snapshots", {})).structured_content["snapshots"]
    assert [(s["snapshot_id"], s["label"], s["sandbox_id"]) for s in listed] == [(snapshot_id, "conformance",
                                                                                  sandbox_id)]

    restored = (await backend.call_tool("restore_snapshot", {"snapshot_id": snapshot_id, "replay": True})
                ).structured_content
    new_id = restored["sandbox_id"]
    assert new_id != sandbox_id and restored["restored_from"] == snapshot_id
    [replayed] = restored["replayed"]
    assert replayed["cells_run"] == 3
    assert [(f["cell_index"], f["ename"]) for f in replayed["failed"]] == [(1, "ZeroDivisionError")]
    values = await run(backend, replayed["session_id"], "print(x, y)")
    assert output_of(values).strip() == "42 84"
    kept = await backend.call_tool("read_file", {"sandbox_id": new_id, "path": "data/kept.txt"})
    assert text_of(kept) == "kept\n[data/kept.txt · 4 bytes]"

    deleted = await backend.call_tool("delete_snapshot", {"snapshot_id": snapshot_id})
    assert deleted.structured_content["deleted"] is True
    assert (await backend.call_tool("list_snapshots", {})).structured_content["snapshots"] == []


async def test_python_packages_that_are_already_installed_do_not_break_creation(backend: Client) -> None:
    sandbox = await create(backend, python_packages=["pip"])
    assert sandbox["status"] == "running"
    result = await backend.call_tool("sandbox_exec", {"sandbox_id": sandbox["sandbox_id"],
                                                      "command": "python -c 'import pip; print(\"ok\")'"})
    assert output_of(result).strip() == "ok" and fields_of(result)["exit_code"] == 0
