"""The checks of the conformance suite (`seer_mcp.backends.conformance` runs them).

Each is an async function of an MCP client and the backend's capabilities, and
fails with an `AssertionError` saying what differed; the `check` decorator adds
each to `REGISTERED`, with what makes it not apply. They read results as a client's model would:
the text of the content, and `_meta["seer"]` for fields meant for programs.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import mcp_types
import nbformat
from fastmcp import Client
from PIL import Image

from seer_mcp.backends.base import BackendCapabilities

CheckFn = Callable[[Client, BackendCapabilities], Awaitable[None]]
SkipWhen = Callable[[BackendCapabilities], str | None]

# (name, check, why it does not apply to a backend with given capabilities), in the order they run.
REGISTERED: list[tuple[str, CheckFn, SkipWhen]] = []


def _always(capabilities: BackendCapabilities) -> None:
    return None


def _unless(capability: str, reason: str) -> SkipWhen:
    return lambda capabilities: None if getattr(capabilities, capability) else reason


def _if(capability: str, reason: str) -> SkipWhen:
    return lambda capabilities: reason if getattr(capabilities, capability) else None


def check(skip_when: SkipWhen = _always) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        REGISTERED.append((fn.__name__, fn, skip_when))
        return fn
    return register


PLOT = "import matplotlib.pyplot as plt\nplt.figure(figsize=(4, 3))\nplt.plot([1, 3, 2])\nplt.show()"

# ----- reading results ----------------------------------------------------------


def text_of(result: Any) -> str:
    """All the text of a result's content: what every client's model is shown."""
    return "".join(getattr(block, "text", "") for block in result.content)


def output_of(result: Any) -> str:
    """An output's text without its closing status line (`[cell 3 · ok · 0.01 s]`)."""
    text = text_of(result)
    body, _, last = text.rpartition("\n")
    if last.startswith("[") and last.endswith("]"):
        return body
    return "" if text.startswith("[") and text.endswith("]") else text


def status_of(result: Any) -> str:
    return text_of(result).rpartition("\n")[2]


def fields_of(result: Any) -> dict[str, Any]:
    """An output's fields for programs (`_meta["seer"]`)."""
    fields = (result.meta or {}).get("seer")
    expect(isinstance(fields, dict), f"the result carries _meta['seer'] (its text: {text_of(result)!r})")
    return fields


def notebook_cells(page: Any) -> dict[int, dict[str, str]]:
    """The cells a read_notebook page shows, by index: type, source and (shortened) output."""
    lines: dict[int, dict[str, list[str]]] = {}
    types: dict[int, str] = {}
    index, part = -1, "source"
    for line in output_of(page).split("\n"):
        header = re.fullmatch(r"--- \[(\d+)\] (code|markdown|raw)(?:, execution_count \S+)?", line)
        if header:
            index, part = int(header[1]), "source"
            types[index], lines[index] = header[2], {"source": [], "output": []}
        elif line == f"--- output of [{index}]":
            part = "output"
        else:
            expect(index in lines, f"read_notebook shows no text before its first cell, but it shows {line!r}")
            lines[index][part].append(line)
    return {i: {"type": types[i], **{k: "\n".join(v) for k, v in cell.items()}} for i, cell in lines.items()}


# ----- saying what differed ----------------------------------------------------------


def expect(condition: object, what: str) -> None:
    """`what` is the behaviour expected, in words; raised as the failure's message when it does not hold."""
    if not condition:
        raise AssertionError(f"expected {what}")


def expect_equal(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        raise AssertionError(f"expected {what} to be {expected!r}, got {actual!r}")


def expect_in(part: Any, whole: Any, what: str) -> None:
    if part not in whole:
        shown = whole if len(str(whole)) <= 600 else f"{str(whole)[:600]}..."
        raise AssertionError(f"expected {what} to contain {part!r}, got {shown!r}")


# ----- calling tools -----------------------------------------------------------------


async def create(client: Client, **args: Any) -> dict[str, Any]:
    return (await client.call_tool("create_sandbox", args)).structured_content


async def start(client: Client, sandbox_id: str, kind: str = "notebook") -> dict[str, Any]:
    return (await client.call_tool("start_session", {"sandbox_id": sandbox_id, "kind": kind})).structured_content


async def run(client: Client, session_id: str, code: str, **args: Any) -> Any:
    return await client.call_tool("execute_code", {"session_id": session_id, "code": code, **args},
                                  raise_on_error=False)


async def sandbox_ids(client: Client) -> list[str]:
    listing = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
    return [s["sandbox_id"] for s in listing]


async def refused_at_create(client: Client, field: str, **args: Any) -> None:
    """create_sandbox with `args` is a tool error naming `field` that leaves no sandbox, and one without starts."""
    refused = await client.call_tool("create_sandbox", args, raise_on_error=False)
    expect(refused.is_error, f"create_sandbox({args}) to be refused, but it started {refused.structured_content}")
    expect_in(field, text_of(refused).lower(), f"the refusal of {args}")
    expect_equal(await sandbox_ids(client), [], "the sandboxes left after the refusal")
    expect_equal((await create(client))["status"], "running", "a sandbox created without it")


# ----- the checks ---------------------------------------------------------------------


@check()
async def a_notebook_session_runs_cells_keeps_its_notebook_and_ends_with_the_sandbox(
        client: Client, capabilities: BackendCapabilities) -> None:
    sandbox = await create(client)
    expect_equal(sandbox["status"], "running", "a new sandbox's status")
    session = await start(client, sandbox["sandbox_id"])
    session_id = session["session_id"]

    printed = await run(client, session_id, "print('hello', 6 * 7)")
    expect(not printed.is_error, f"a print to succeed, got {text_of(printed)!r}")
    expect_equal(output_of(printed).strip(), "hello 42", "a print's output")
    expect_equal(printed.structured_content, None, "a cell result's structured content")
    expect_equal(fields_of(printed)["status"], "ok", "a print's status")

    plotted = await run(client, session_id, PLOT)
    images = [b for b in plotted.content if isinstance(b, mcp_types.ImageContent)]
    expect_equal(len(images), 1, "the number of images a plot returns")
    expect_equal(images[0].mime_type, "image/png", "a plot's image type")
    width = Image.open(io.BytesIO(base64.b64decode(images[0].data))).size[0]
    expect(width > 100, f"a plot at least 100 px wide, got {width}")
    expect_in("[image 1: image/png, attached below]", text_of(plotted), "a plot's text")

    failed = await run(client, session_id, "def divide(a, b):\n    return a / b\n\ndivide(1, 0)")
    expect(failed.is_error, f"a raising cell to be an error, got {text_of(failed)!r}")
    expect_equal(failed.structured_content, None, "a failed cell's structured content")
    expect_equal(fields_of(failed)["error"]["ename"], "ZeroDivisionError", "the failed cell's ename")
    expect_in("return a / b", output_of(failed), "the failed cell's traceback")

    page = await client.call_tool("read_notebook", {"session_id": session_id})
    expect_equal(page.structured_content, None, "read_notebook's structured content")
    expect_equal(fields_of(page)["total_cells"], 3, "the notebook's total_cells")
    expect_equal(notebook_cells(page)[0]["output"].strip(), "hello 42", "the first cell's output in read_notebook")

    copy = Path(session["notebook_copy"])
    expect(copy.is_relative_to(sandbox["outputs_path"]),
           f"the notebook copy {copy} under the sandbox's outputs_path {sandbox['outputs_path']}")
    notebook = nbformat.read(copy, as_version=4)
    nbformat.validate(notebook)
    expect_equal(len(notebook.cells), 3, "the number of cells in the notebook copy")
    expect_equal(notebook.cells[0].source, "print('hello', 6 * 7)", "the notebook copy's first cell")

    ended = await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox["sandbox_id"]})
    expect_equal(ended.structured_content["status"], "terminated", "terminate_sandbox's status")
    expect(sandbox["sandbox_id"] not in await sandbox_ids(client), "a terminated sandbox gone from list_sandboxes")
    after = await run(client, session_id, "1 + 1")
    expect(after.is_error, f"a cell in an ended sandbox's session to be an error, got {text_of(after)!r}")
    expect_in(session_id, text_of(after), "the error of a cell in an ended session")
    expect(nbformat.read(copy, as_version=4).cells, "the notebook copy to outlive its sandbox")


@check()
async def a_cell_past_its_timeout_is_interrupted_and_the_kernel_keeps_its_state(
        client: Client, capabilities: BackendCapabilities) -> None:
    session_id = (await start(client, (await create(client))["sandbox_id"]))["session_id"]
    await run(client, session_id, "kept = 'still here'")
    slow = await run(client, session_id, "import time\ntime.sleep(30)", timeout=1)
    expect(slow.is_error, f"a cell past its timeout to be an error, got {text_of(slow)!r}")
    expect_equal(fields_of(slow)["status"], "timeout", "a slow cell's status")
    expect_in("interrupted", fields_of(slow)["message"], "a slow cell's message")
    expect_in("interrupted", status_of(slow), "a slow cell's status line")
    after = await run(client, session_id, "print(kept)")
    expect_equal(output_of(after).strip(), "still here", "a variable set before the interrupt")


@check()
async def a_kernel_that_exits_is_reported_dead_and_restart_recovers(
        client: Client, capabilities: BackendCapabilities) -> None:
    session_id = (await start(client, (await create(client))["sandbox_id"]))["session_id"]
    await run(client, session_id, "before = 1")
    died = await run(client, session_id, "import os\nos._exit(1)")
    expect(died.is_error, f"a kernel exit to be an error, got {text_of(died)!r}")
    expect_equal(fields_of(died)["status"], "dead", "an exited kernel's status")
    expect_in("kernel died, state lost", text_of(died), "an exited kernel's text")
    await client.call_tool("restart_kernel", {"session_id": session_id})
    fresh = await run(client, session_id, "'before' in globals()")
    expect(not fresh.is_error, f"a cell after restart_kernel to succeed, got {text_of(fresh)!r}")
    expect_equal(output_of(fresh), "False", "whether a restarted kernel still has the old variable")


@check()
async def a_cli_session_carries_its_directory_and_variables_over_and_keeps_a_transcript(
        client: Client, capabilities: BackendCapabilities) -> None:
    session = await start(client, (await create(client))["sandbox_id"], kind="cli")
    session_id = session["session_id"]
    await run(client, session_id, "mkdir -p deep/er && cd deep/er")
    await run(client, session_id, "export GREETING=conformance")
    where = await run(client, session_id, 'echo "$GREETING in $(basename "$PWD")"')
    expect(not where.is_error, f"an echo to succeed, got {text_of(where)!r}")
    expect_equal(output_of(where).strip(), "conformance in er", "a variable and directory from earlier commands")
    transcript = Path(session["transcript_copy"]).read_text()
    expect_in("export GREETING=conformance", transcript, "the transcript copy")
    expect_in('echo "$GREETING', transcript, "the transcript copy")


@check()
async def a_cli_command_that_fails_or_runs_too_long_is_an_error(
        client: Client, capabilities: BackendCapabilities) -> None:
    session_id = (await start(client, (await create(client))["sandbox_id"], kind="cli"))["session_id"]
    failed = await run(client, session_id, "echo partial; exit 4")
    expect(failed.is_error, f"a command exiting 4 to be an error, got {text_of(failed)!r}")
    expect_equal(fields_of(failed)["status"], "error", "a failed command's status")
    expect_in("partial", output_of(failed), "a failed command's output")
    expect_in("4", fields_of(failed)["message"], "a failed command's message")
    expect_in(fields_of(failed)["message"], status_of(failed), "a failed command's status line")
    slow = await run(client, session_id, "echo begun; sleep 30", timeout=1)
    expect(slow.is_error, f"a command past its timeout to be an error, got {text_of(slow)!r}")
    expect_equal(fields_of(slow)["status"], "timeout", "a slow command's status")
    expect_in("killed", fields_of(slow)["message"], "a slow command's message")
    expect_in("killed", status_of(slow), "a slow command's status line")
    still = await run(client, session_id, "echo alive")
    expect(not still.is_error, f"a command after the timeout to succeed, got {text_of(still)!r}")
    expect_equal(output_of(still).strip(), "alive", "a command's output after the timeout")


@check()
async def files_written_are_read_back_listed_and_seen_by_commands(
        client: Client, capabilities: BackendCapabilities) -> None:
    sandbox_id = (await create(client))["sandbox_id"]
    written = await client.call_tool("write_file", {"sandbox_id": sandbox_id, "path": "data/notes.txt",
                                                    "content": "hello\nworld\n"})
    expect_equal(written.structured_content["size"], 12, "write_file's size")
    read = await client.call_tool("read_file", {"sandbox_id": sandbox_id, "path": "data/notes.txt"})
    expect_equal(read.structured_content, None, "read_file's structured content")
    expect_equal(text_of(read), "hello\nworld\n[data/notes.txt · 12 bytes]", "read_file's text")
    expect_equal((fields_of(read)["size"], fields_of(read)["truncated"]), (12, False), "read_file's size, truncated")
    listing = await client.call_tool("list_files", {"sandbox_id": sandbox_id, "path": "data"})
    expect_equal([(e["name"], e["size"]) for e in listing.structured_content["entries"]], [("notes.txt", 12)],
                 "list_files' entries")
    counted = await client.call_tool("sandbox_exec", {"sandbox_id": sandbox_id, "command": "wc -l < data/notes.txt"})
    expect_equal(counted.structured_content, None, "sandbox_exec's structured content")
    expect_equal(fields_of(counted)["exit_code"], 0, "wc's exit code")
    expect_equal(output_of(counted).strip(), "2", "wc's output on the written file")
    code = await client.call_tool("sandbox_exec", {"sandbox_id": sandbox_id, "command": "echo err >&2; exit 3"})
    expect_equal(fields_of(code)["exit_code"], 3, "a command's exit code")
    expect_equal(text_of(code), "--- stderr\nerr\n[exit 3]", "a failing command's text")
    expect_equal((fields_of(code)["stdout_chars"], fields_of(code)["stderr_chars"]), (0, 4),
                 "a failing command's stdout_chars, stderr_chars")


async def a_path_outside_the_workspace_is_refused(client: Client, capabilities: BackendCapabilities,
                                                  path: str) -> None:
    sandbox_id = (await create(client))["sandbox_id"]
    for tool, args in [("read_file", {"path": path}), ("write_file", {"path": path, "content": "x"}),
                       ("list_files", {"path": path})]:
        result = await client.call_tool(tool, {"sandbox_id": sandbox_id, **args}, raise_on_error=False)
        expect(result.is_error, f"{tool} of {path} to be refused, got {text_of(result)!r}")
        expect_in("outside the sandbox", text_of(result), f"{tool}'s refusal of {path}")


for _path in ["../outside.txt", "/etc/passwd"]:
    REGISTERED.append((f"a_path_outside_the_workspace_is_refused-{_path}",
                       partial(a_path_outside_the_workspace_is_refused, path=_path), _always))


@check()
async def an_interfaces_functions_are_tools_and_can_be_called_by_name(
        client: Client, capabilities: BackendCapabilities) -> None:
    await create(client)
    code = "@expose\ndef add(a: int, b: int = 2) -> int:\n    return a + b\n"
    served = await client.call_tool("serve_interface", {"name": "calc", "code": code})
    expect_equal([f["tool"] for f in served.structured_content["functions"]], ["calc_add"], "the served tools")
    expect_in("calc_add", {tool.name for tool in await client.list_tools()}, "the server's tools")
    as_tool = await client.call_tool("calc_add", {"a": 1})
    expect_equal(as_tool.structured_content, None, "an interface tool's structured content")
    expect_equal(text_of(as_tool), "3\n[calc.add · returned JSON]", "calc_add(a=1)")
    by_name = await client.call_tool("call_interface", {"name": "calc", "function": "add",
                                                        "arguments": {"a": 1, "b": 5}})
    expect_equal(by_name.structured_content, None, "call_interface's structured content")
    expect_equal(text_of(by_name), "6\n[calc.add · returned JSON]", "call_interface calc.add(a=1, b=5)")


@check(_unless("snapshots", "the backend declares no snapshots (BackendCapabilities.snapshots)"))
async def a_snapshot_restored_with_replay_brings_back_files_and_variables(
        client: Client, capabilities: BackendCapabilities) -> None:
    sandbox_id = (await create(client))["sandbox_id"]
    session_id = (await start(client, sandbox_id))["session_id"]
    await run(client, session_id, "x = 41 + 1")
    await run(client, session_id, "1 / 0")  # fails again when replayed
    await run(client, session_id, "y = x * 2")
    await client.call_tool("write_file", {"sandbox_id": sandbox_id, "path": "data/kept.txt", "content": "kept"})

    snapshot = (await client.call_tool("snapshot_sandbox", {"sandbox_id": sandbox_id, "label": "conformance"})
                ).structured_content
    snapshot_id = snapshot["snapshot_id"]
    listed = (await client.call_tool("list_snapshots", {})).structured_content["snapshots"]
    expect_equal([(s["snapshot_id"], s["label"], s["sandbox_id"]) for s in listed],
                 [(snapshot_id, "conformance", sandbox_id)], "list_snapshots")

    restored = (await client.call_tool("restore_snapshot", {"snapshot_id": snapshot_id, "replay": True})
                ).structured_content
    new_id = restored["sandbox_id"]
    expect(new_id != sandbox_id, f"a restored sandbox with a new id, got the snapshot's own {sandbox_id}")
    expect_equal(restored["restored_from"], snapshot_id, "restore_snapshot's restored_from")
    expect_equal(len(restored["replayed"]), 1, "the number of replayed sessions")
    [replayed] = restored["replayed"]
    expect_equal(replayed["cells_run"], 3, "the cells replayed")
    expect_equal([(f["cell_index"], f["ename"]) for f in replayed["failed"]], [(1, "ZeroDivisionError")],
                 "the replayed cells that failed")
    values = await run(client, replayed["session_id"], "print(x, y)")
    expect_equal(output_of(values).strip(), "42 84", "the variables after replay")
    kept = await client.call_tool("read_file", {"sandbox_id": new_id, "path": "data/kept.txt"})
    expect_equal(text_of(kept), "kept\n[data/kept.txt · 4 bytes]", "a file in the restored sandbox")

    deleted = await client.call_tool("delete_snapshot", {"snapshot_id": snapshot_id})
    expect_equal(deleted.structured_content["deleted"], True, "delete_snapshot's deleted")
    expect_equal((await client.call_tool("list_snapshots", {})).structured_content["snapshots"], [],
                 "list_snapshots after delete_snapshot")


@check()
async def python_packages_that_are_already_installed_do_not_break_creation(
        client: Client, capabilities: BackendCapabilities) -> None:
    sandbox = await create(client, python_packages=["pip"])
    expect_equal(sandbox["status"], "running", "the status of a sandbox asking for pip")
    result = await client.call_tool("sandbox_exec", {"sandbox_id": sandbox["sandbox_id"],
                                                     "command": "python -c 'import pip; print(\"ok\")'"})
    expect_equal(output_of(result).strip(), "ok", "importing pip in the sandbox")
    expect_equal(fields_of(result)["exit_code"], 0, "importing pip's exit code")


# ----- what the capabilities say ------------------------------------------------------


@check(_if("snapshots", "the backend declares snapshots: the snapshot check covers them"))
async def without_snapshots_snapshot_sandbox_is_refused(client: Client, capabilities: BackendCapabilities) -> None:
    sandbox_id = (await create(client))["sandbox_id"]
    refused = await client.call_tool("snapshot_sandbox", {"sandbox_id": sandbox_id}, raise_on_error=False)
    expect(refused.is_error, f"snapshot_sandbox to be refused, got {refused.structured_content}")
    expect_in("snapshot", text_of(refused).lower(), "snapshot_sandbox's refusal")
    expect_equal((await client.call_tool("list_snapshots", {})).structured_content["snapshots"], [],
                 "list_snapshots after the refusal")


@check(_if("gpus", "the backend declares GPUs, and the suite starts no GPU sandbox (they cost)"))
async def without_gpus_a_gpu_is_refused_at_create(client: Client, capabilities: BackendCapabilities) -> None:
    await refused_at_create(client, "gpu", gpu="T4")


@check(_if("network_off", "the backend declares network_off: the check of what network=false does covers it"))
async def without_network_off_network_false_is_refused_at_create(client: Client,
                                                                 capabilities: BackendCapabilities) -> None:
    await refused_at_create(client, "network", network=False)


_PROBE = ("python -c \"import socket\nfor address in [('127.0.0.1', {port}), ('1.1.1.1', 53)]:\n"
          " try:\n  socket.create_connection(address, 3).close(); print('reached', address[0])\n"
          " except OSError as exc:\n  print('unreachable', address[0], type(exc).__name__)\"")


@check(_unless("network_off", "the backend declares no network_off (BackendCapabilities.network_off)"))
async def with_network_off_a_sandbox_with_network_false_connects_nowhere(
        client: Client, capabilities: BackendCapabilities) -> None:
    # A listener on the server's own loopback: a sandbox on this host with any network would reach it.
    listener = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
    try:
        port = listener.sockets[0].getsockname()[1]
        sandbox = await create(client, network=False)
        expect_equal(sandbox["status"], "running", "the status of a sandbox with network=false")
        probed = await client.call_tool("sandbox_exec", {"sandbox_id": sandbox["sandbox_id"],
                                                         "command": _PROBE.format(port=port)})
        lines = output_of(probed).strip().splitlines()
        expect_equal([line.rsplit(" ", 1)[0] for line in lines], ["unreachable 127.0.0.1", "unreachable 1.1.1.1"],
                     "what a network=false sandbox's connections to the server's loopback and 1.1.1.1 do")
    finally:
        listener.close()
        await listener.wait_closed()
