"""Notebook cells through the in-memory MCP client, against a real local sandbox and kernel."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from pathlib import Path

import mcp_types
import nbformat
import pytest
from fastmcp import Client
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from nbclient import NotebookClient
from PIL import Image

from seer_mcp.errors import InvalidRequest, SeerError
from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.conftest import fields_of, notebook_cells, open_session, output_of, status_of, text_of

pytestmark = pytest.mark.slow


async def test_state_persists_across_cells(any_client: Client) -> None:
    await open_session(any_client)
    await any_client.call_tool("execute_code", {"code": "secret = 6 * 7"})
    result = await any_client.call_tool("execute_code", {"code": "print(secret)"})
    assert output_of(result).strip() == "42"
    assert result.structured_content is None
    assert [block.type for block in result.content] == ["text"]
    assert re.fullmatch(r"\[cell 1 · ok · \d+\.\d\d s\]", status_of(result))
    assert fields_of(result)["status"] == "ok"
    assert fields_of(result)["execution_count"] == 2
    assert fields_of(result)["cell_index"] == 1


async def test_last_expression_value_is_shown(client: Client) -> None:
    await open_session(client)
    result = await client.call_tool("execute_code", {"code": "[1, 2] * 2"})
    assert output_of(result) == "[1, 2, 1, 2]"


async def test_a_matplotlib_plot_comes_back_as_an_image(any_client: Client) -> None:
    await open_session(any_client)
    code = "import matplotlib.pyplot as plt\nplt.figure(figsize=(4, 3))\nplt.plot([1, 3, 2])\nplt.show()"
    result = await any_client.call_tool("execute_code", {"code": code})
    images = [b for b in result.content if isinstance(b, mcp_types.ImageContent)]
    assert len(images) == 1
    assert images[0].mime_type == "image/png"
    picture = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
    assert picture.size[0] > 100 and picture.size[1] > 100
    assert result.structured_content is None
    assert [block.type for block in result.content] == ["text", "image"]
    assert "[image 1: image/png, attached below]" in text_of(result)


async def test_large_images_are_downscaled_for_the_agent_but_kept_whole_in_the_notebook(client: Client) -> None:
    _, session_id = await open_session(client)
    code = ("import matplotlib.pyplot as plt\nplt.figure(figsize=(30, 10), dpi=100)\n"
            "plt.plot([1, 2, 3])\nplt.show()")
    result = await client.call_tool("execute_code", {"code": code})
    image = next(b for b in result.content if isinstance(b, mcp_types.ImageContent))
    shown = Image.open(io.BytesIO(base64.b64decode(image.data)))
    assert max(shown.size) == 1024
    assert fields_of(result)["truncated"]["images_downscaled"] == 1
    notebook = nbformat.read(_notebook_copy(result), as_version=4)
    stored = notebook.cells[0].outputs[0]["data"]["image/png"]
    assert max(Image.open(io.BytesIO(base64.b64decode(stored))).size) > 1024


async def test_an_exception_is_an_error_result_with_its_traceback(any_client: Client) -> None:
    await open_session(any_client)
    code = "def divide(a, b):\n    return a / b\n\ndivide(1, 0)"
    result = await any_client.call_tool("execute_code", {"code": code}, raise_on_error=False)
    assert result.is_error
    assert result.structured_content is None
    error = fields_of(result)["error"]
    assert error["ename"] == "ZeroDivisionError"
    assert error["evalue"] == "division by zero"
    traceback = output_of(result)
    assert "divide(1, 0)" in traceback and "return a / b" in traceback
    assert "ZeroDivisionError: division by zero" in traceback
    assert "\x1b[" not in text_of(result)
    assert fields_of(result)["status"] == "error"
    assert re.fullmatch(r"\[cell 0 · error: ZeroDivisionError · \d+\.\d\d s\]", status_of(result))


async def test_a_megabyte_of_output_is_capped_for_the_agent_and_whole_in_the_notebook(client: Client) -> None:
    await open_session(client)
    code = "for i in range(20000):\n    print(f'line {i:06d} ' + 'x' * 40)"
    result = await client.call_tool("execute_code", {"code": code})
    shown = text_of(result)
    assert len(shown) < 11_000
    assert shown.startswith("line 000000")
    assert "line 019999" in shown
    assert fields_of(result)["truncated"]["chars_cut"] > 900_000
    assert "the full output is in cell 0 of" in shown
    notebook = nbformat.read(_notebook_copy(result), as_version=4)
    stored = "".join(notebook.cells[0].outputs[0]["text"])
    assert len(stored) == 20000 * 53
    assert "line 010000" in stored


async def test_carriage_return_progress_bars_collapse_to_their_last_state(client: Client) -> None:
    await open_session(client)
    code = "import sys\nfor i in range(101):\n    sys.stdout.write(f'\\rprogress {i}%')\nprint()"
    result = await client.call_tool("execute_code", {"code": code})
    assert output_of(result).strip() == "progress 100%"


async def test_a_cell_past_its_timeout_is_interrupted_and_the_kernel_keeps_its_state(any_client: Client) -> None:
    await open_session(any_client)
    await any_client.call_tool("execute_code", {"code": "kept = 'still here'"})
    slow = await any_client.call_tool("execute_code", {"code": "import time\ntime.sleep(30)", "timeout": 1},
                                      raise_on_error=False)
    assert slow.is_error
    assert fields_of(slow)["status"] == "timeout"
    assert "interrupted" in fields_of(slow)["message"]
    assert "interrupted" in status_of(slow)
    after = await any_client.call_tool("execute_code", {"code": "print(kept)"})
    assert output_of(after).strip() == "still here"


async def test_a_kernel_that_exits_is_reported_dead_and_restart_recovers(any_client: Client) -> None:
    await open_session(any_client)
    await any_client.call_tool("execute_code", {"code": "before = 1"})
    died = await any_client.call_tool("execute_code", {"code": "import os\nos._exit(1)"}, raise_on_error=False)
    assert died.is_error
    assert fields_of(died)["status"] == "dead"
    assert "kernel died, state lost" in text_of(died)
    again = await any_client.call_tool("execute_code", {"code": "1 + 1"}, raise_on_error=False)
    assert again.is_error and "restart_kernel" in text_of(again)
    await any_client.call_tool("restart_kernel", {})
    fresh = await any_client.call_tool("execute_code", {"code": "'before' in globals()"})
    assert output_of(fresh) == "False"
    notebook = nbformat.read(_notebook_copy(fresh), as_version=4)
    assert [c.source for c in notebook.cells] == ["before = 1", "import os\nos._exit(1)", "'before' in globals()"]


async def test_a_segfault_is_reported_dead(client: Client) -> None:
    await open_session(client)
    code = "import ctypes\nctypes.string_at(0)"
    result = await client.call_tool("execute_code", {"code": code}, raise_on_error=False)
    assert fields_of(result)["status"] == "dead"
    assert "kernel died, state lost" in text_of(result)


async def test_interrupt_kernel_stops_a_running_cell(client: Client) -> None:
    await open_session(client)
    cell = asyncio.create_task(client.call_tool(
        "execute_code", {"code": "import time\nprint('started', flush=True)\ntime.sleep(60)"}, raise_on_error=False))
    await asyncio.sleep(1.5)
    await client.call_tool("interrupt_kernel", {})
    result = await asyncio.wait_for(cell, 20)
    assert fields_of(result)["error"]["ename"] == "KeyboardInterrupt"
    assert "started" in text_of(result)


async def test_a_long_cell_sends_progress_with_its_latest_output_line(client: Client) -> None:
    await open_session(client)
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    code = "import time\nfor i in range(4):\n    print(f'step {i}', flush=True)\n    time.sleep(0.6)"
    await client.call_tool("execute_code", {"code": code}, progress_handler=on_progress)
    messages = [m for _, _, m in seen]
    assert any(m and m.startswith("step") for m in messages)
    assert [p for p, _, _ in seen] == sorted(p for p, _, _ in seen)


async def test_the_saved_notebook_is_valid_and_reexecutes_to_the_same_outputs(client: Client) -> None:
    await open_session(client)
    cells = ["values = [3, 1, 2]", "print(sorted(values))", "sum(values) * 10",
             "import matplotlib.pyplot as plt\nplt.plot(values)\nplt.show()", "print('done')"]
    last = None
    for code in cells:
        last = await client.call_tool("execute_code", {"code": code})
    await client.call_tool("add_markdown", {"content": "## Notes\nsorted works."})
    path = _notebook_copy(last)
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert [c.cell_type for c in notebook.cells] == ["code"] * 5 + ["markdown"]

    rerun = nbformat.read(path, as_version=4)
    await NotebookClient(rerun, timeout=60, kernel_name="python3").async_execute()

    def texts(nb: nbformat.NotebookNode) -> list[list[str]]:
        out = []
        for cell in nb.cells:
            if cell.cell_type == "code":
                out.append([o.get("text") or o.get("data", {}).get("text/plain", "")
                            for o in cell.outputs if o.output_type != "display_data"])
        return out

    assert texts(rerun) == texts(notebook)


async def test_edit_cell_reruns_and_replaces_the_cell_in_place(client: Client) -> None:
    await open_session(client)
    await client.call_tool("execute_code", {"code": "a = 1"})
    await client.call_tool("execute_code", {"code": "print(a)"})
    edited = await client.call_tool("edit_cell", {"cell_index": 0, "code": "a = 5\nprint('a is', a)"})
    assert output_of(edited).strip() == "a is 5"
    assert fields_of(edited)["cell_index"] == 0
    page = await client.call_tool("read_notebook", {})
    assert page.structured_content is None
    assert fields_of(page)["total_cells"] == 2
    cells = notebook_cells(page)
    assert list(cells) == [0, 1]
    assert cells[0]["source"] == "a = 5\nprint('a is', a)"
    assert cells[0]["output"].strip() == "a is 5"


async def test_edit_cell_rejects_an_index_past_the_end(client: Client) -> None:
    await open_session(client)
    await client.call_tool("execute_code", {"code": "a = 1"})
    result = await client.call_tool("edit_cell", {"cell_index": 7, "code": "a = 2"}, raise_on_error=False)
    assert result.is_error
    assert "out of range" in text_of(result)


class _ToolErrorCauses(Middleware):
    """Keeps the seer-mcp exception behind each failed tool call, which the client sees only as text."""

    def __init__(self) -> None:
        self.causes: list[BaseException] = []

    async def on_call_tool(self, context: MiddlewareContext, call_next: CallNext) -> object:
        try:
            return await call_next(context)
        except Exception as exc:
            cause: BaseException | None = exc
            while cause is not None and not isinstance(cause, SeerError):
                cause = cause.__cause__ or cause.__context__
            self.causes.append(cause or exc)
            raise


async def test_an_edit_cell_index_past_the_end_is_a_bad_request_not_a_missing_cell(settings: Settings) -> None:
    # IndexError is a LookupError, which the agent answers as not_found; an index past the end is a wrong argument.
    server = build_server(settings)
    causes = _ToolErrorCauses()
    server.add_middleware(causes)
    async with Client(server) as client:
        await open_session(client)
        await client.call_tool("execute_code", {"code": "a = 1"})
        result = await client.call_tool("edit_cell", {"cell_index": 3, "code": "a = 2"}, raise_on_error=False)
    assert result.is_error
    assert "cell_index 3 is out of range: the notebook has 1 cells" in text_of(result)
    assert "not found" not in text_of(result).lower()
    assert [type(cause) for cause in causes.causes] == [InvalidRequest]


async def test_read_notebook_pages_through_cells_with_shortened_outputs(client: Client) -> None:
    await open_session(client)
    for i in range(5):
        await client.call_tool("execute_code", {"code": f"print('x' * 3000, {i})"})
    page = await client.call_tool("read_notebook", {"start": 2, "limit": 2})
    data = fields_of(page)
    assert data["total_cells"] == 5 and data["start"] == 2 and data["cells_shown"] == 2
    cells = notebook_cells(page)
    assert list(cells) == [2, 3]
    assert len(cells[2]["output"]) < 700
    assert status_of(page) == f"[{data['notebook_path']} · cells 2-3 of 5 · read on with start=4]"


async def test_two_sessions_running_cells_at_once_never_mix_outputs(client: Client) -> None:
    sandbox_id, first = await open_session(client)
    second = (await client.call_tool("start_session", {"sandbox_id": sandbox_id})).structured_content["session_id"]
    code = "import time\nfor i in range(30):\n    print('{tag}', i, flush=True)\n    time.sleep(0.02)"
    results = await asyncio.gather(
        client.call_tool("execute_code", {"session_id": first, "code": code.format(tag="alpha")}),
        client.call_tool("execute_code", {"session_id": second, "code": code.format(tag="beta")}),
    )
    alpha, beta = (output_of(r).splitlines() for r in results)
    assert alpha == [f"alpha {i}" for i in range(30)]
    assert beta == [f"beta {i}" for i in range(30)]


async def test_session_id_is_required_once_two_sessions_are_open(client: Client) -> None:
    sandbox_id, _ = await open_session(client)
    await client.call_tool("start_session", {"sandbox_id": sandbox_id})
    result = await client.call_tool("execute_code", {"code": "1"}, raise_on_error=False)
    assert result.is_error
    assert "pass session_id" in text_of(result)


async def test_code_that_is_not_a_string_is_refused_and_the_server_goes_on(client: Client) -> None:
    await open_session(client)
    bad = await client.call_tool("execute_code", {"code": 12}, raise_on_error=False)
    assert bad.is_error
    good = await client.call_tool("execute_code", {"code": "print('fine')"})
    assert output_of(good).strip() == "fine"


async def test_an_unknown_session_is_a_clear_error(client: Client) -> None:
    result = await client.call_tool("execute_code", {"session_id": "ses-nope", "code": "1"}, raise_on_error=False)
    assert result.is_error
    assert "no session 'ses-nope'" in text_of(result)


async def test_ending_a_session_keeps_its_notebook(client: Client) -> None:
    _, session_id = await open_session(client)
    ran = await client.call_tool("execute_code", {"code": "print('kept')"})
    ended = await client.call_tool("end_session", {"session_id": session_id})
    assert ended.structured_content["ended"] is True
    notebook = nbformat.read(_notebook_copy(ran), as_version=4)
    assert notebook.cells[0].outputs[0]["text"] == "kept\n"
    gone = await client.call_tool("execute_code", {"session_id": session_id, "code": "1"}, raise_on_error=False)
    assert gone.is_error


def _notebook_copy(result: object) -> Path:
    """The notebook copy under the outputs dir that a cell result points to."""
    return Path(fields_of(result)["notebook_copy"])

