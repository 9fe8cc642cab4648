"""Cells that run longer than a client waits: execute_code answers "still running" with the output so far,
wait_cell shows the rest, and nothing is lost or shown twice."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import nbformat
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.conftest import fields_of, open_session, output_of, status_of

pytestmark = pytest.mark.slow

# Prints a numbered line every 0.3 s: 0..9 in about three seconds.
TICKER = "import time\nfor i in range(10):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.3)\nprint('done')"


@pytest.fixture
async def impatient(settings: Settings) -> AsyncIterator[Client]:
    """A server whose tool calls wait only one second for a cell."""
    async with Client(build_server(settings.model_copy(update={"result_wait": 1.0}))) as client:
        yield client


async def _until_finished(client: Client, first: Any) -> list[Any]:
    results = [first]
    while fields_of(results[-1])["status"] == "running":
        results.append(await client.call_tool("wait_cell", {}, raise_on_error=False))
    return results


async def test_a_long_cell_comes_back_running_with_its_output_so_far(impatient: Client) -> None:
    await open_session(impatient)
    first = await impatient.call_tool("execute_code", {"code": TICKER})
    assert fields_of(first)["status"] == "running" and not first.is_error
    assert first.structured_content is None
    assert "tick 0" in output_of(first) and "done" not in output_of(first)
    assert "still running" in status_of(first) and "wait_cell" in status_of(first)


async def test_wait_cell_shows_the_rest_once_and_the_notebook_keeps_it_all(impatient: Client) -> None:
    await open_session(impatient)
    results = await _until_finished(impatient, await impatient.call_tool("execute_code", {"code": TICKER}))
    assert len(results) >= 2
    shown = "".join(output_of(r) + "\n" for r in results)
    expected = [f"tick {i}" for i in range(10)] + ["done"]
    assert [line for line in shown.splitlines() if line] == expected  # every line once, in order
    final = results[-1]
    assert fields_of(final)["status"] == "ok" and fields_of(final)["continued"] is True
    notebook = nbformat.read(fields_of(final)["notebook_copy"], as_version=4)
    assert notebook.cells[-1].outputs[0].text.splitlines() == expected


async def test_a_new_cell_is_refused_while_the_long_one_runs(impatient: Client) -> None:
    await open_session(impatient)
    await impatient.call_tool("execute_code", {"code": TICKER})
    with pytest.raises(ToolError, match="still running.*wait_cell.*interrupt_kernel"):
        await impatient.call_tool("execute_code", {"code": "print('next')"})


async def test_a_cell_that_finished_unwatched_is_noted_by_the_next_one(impatient: Client) -> None:
    await open_session(impatient)
    await impatient.call_tool("execute_code", {"code": "import time; time.sleep(1.5); print('late')"})
    await asyncio.sleep(1.5)
    nxt = await impatient.call_tool("execute_code", {"code": "print('next')"})
    assert "finished meanwhile (ok" in fields_of(nxt)["earlier"]
    assert "finished meanwhile" in output_of(nxt) and output_of(nxt).endswith("next")


async def test_interrupt_stops_a_running_cell_and_wait_cell_reports_it(impatient: Client) -> None:
    await open_session(impatient)
    await impatient.call_tool("execute_code", {"code": "x = 5\nimport time; time.sleep(60)"})
    await impatient.call_tool("interrupt_kernel", {})
    results = await _until_finished(impatient, await impatient.call_tool("wait_cell", {}, raise_on_error=False))
    assert fields_of(results[-1])["error"]["ename"] == "KeyboardInterrupt"
    assert "KeyboardInterrupt" in output_of(results[-1])
    assert output_of(await impatient.call_tool("execute_code", {"code": "print(x)"})) == "5"  # state survived


async def test_a_running_cells_own_timeout_still_applies(impatient: Client) -> None:
    await open_session(impatient)
    first = await impatient.call_tool("execute_code", {"code": "import time; time.sleep(60)", "timeout": 2})
    results = await _until_finished(impatient, first)
    assert fields_of(results[-1])["status"] == "timeout"
    assert "interrupted" in fields_of(results[-1])["message"]


async def test_wait_cell_without_a_running_cell_says_there_is_none(impatient: Client) -> None:
    await open_session(impatient)
    await impatient.call_tool("execute_code", {"code": "print(1)"})
    with pytest.raises(ToolError, match="no cell of session .* is left running"):
        await impatient.call_tool("wait_cell", {})


async def test_progress_keeps_flowing_while_wait_cell_waits(settings: Settings) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    slow_wait = settings.model_copy(update={"result_wait": 7.0})
    async with Client(build_server(slow_wait), progress_handler=on_progress) as client:
        await open_session(client)
        await client.call_tool("execute_code", {"code": "import time; time.sleep(1)"})  # warm
        seen.clear()
        result = await client.call_tool("execute_code", {"code": "import time; time.sleep(6); print('ok')"})
    assert output_of(result) == "ok"
    assert seen, "no progress notification reached the client during a 6 s cell"


async def test_a_shell_command_that_runs_long_comes_back_running_too(impatient: Client) -> None:
    sandbox = await impatient.call_tool("create_sandbox", {})
    await impatient.call_tool("start_session", {"sandbox_id": sandbox.structured_content["sandbox_id"],
                                                "kind": "cli"})
    first = await impatient.call_tool("execute_code", {"code": "sleep 2; echo shell-finished"})
    assert fields_of(first)["status"] == "running"
    results = await _until_finished(impatient, first)
    assert output_of(results[-1]) == "shell-finished"
