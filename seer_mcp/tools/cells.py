"""Tools for kernel sessions and notebook cells."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

import mcp_types
from fastmcp import Context, FastMCP
from fastmcp.tools import ToolResult
from pydantic import Field

from seer_mcp.errors import InvalidRequest
from seer_mcp.limits import MAX_CELL_TIMEOUT_S, seconds_limit
from seer_mcp.manager.state import SessionRecord
from seer_mcp.settings import Settings
from seer_mcp.tools.common import manager_of, model_errors, progress_of
from seer_mcp.tools.results import output_result, status_line
from seer_mcp.tools.shaping import OutputBudget, shape_outputs
from seer_mcp.wire import CellProgress, CellResult, NotebookPage

SessionId = Annotated[str | None, Field(
    description="The session to use; may be left out when exactly one session is open.")]
CellTimeout = Annotated[float | None, Field(
    gt=0, le=MAX_CELL_TIMEOUT_S,
    description=f"Seconds before the cell is interrupted, at most {seconds_limit(MAX_CELL_TIMEOUT_S)}; default: the "
                "server's cell timeout.")]

# How much of each output read_notebook shows: it is an overview, not a replay.
_NOTEBOOK_OUTPUT_CHARS = 500


def cell_result(settings: Settings, result: CellResult, session: SessionRecord) -> ToolResult:
    """A cell's output as every client's model sees it (see `seer_mcp.tools.results`)."""
    where = f"cell {result.cell_index} of {session.mirror_path}"
    shaped = shape_outputs(result.outputs, OutputBudget(settings.output_budget), settings.image_max_px, where)
    blocks: list[Any] = list(shaped.content)
    if result.earlier:
        blocks.insert(0, mcp_types.TextContent(type="text", text=f"[note: {result.earlier}]"))
    meta: dict[str, Any] = {
        "status": result.status,
        "execution_count": result.execution_count,
        "cell_index": result.cell_index,
        "session_id": session.session_id,
        "notebook_copy": session.mirror_path,
        "duration_s": round(result.duration, 4),
        "truncated": {"chars_cut": shaped.chars_cut, "images_downscaled": shaped.images_downscaled},
    }
    if result.error is not None:
        meta["error"] = {"ename": result.error.ename, "evalue": result.error.evalue}
    for name in ("message", "continued", "earlier"):
        if getattr(result, name):
            meta[name] = getattr(result, name)
    return output_result(blocks, _status(result, session, not shaped.content), meta,
                         is_error=result.status not in ("ok", "running"))


def _status(result: CellResult, session: SessionRecord, no_output: bool) -> str:
    """The closing line: which cell, how it ended, and what to do next when that is not obvious."""
    shell = session.kind == "cli"
    what = f"command {result.execution_count or result.cell_index + 1}" if shell else f"cell {result.cell_index}"
    took = f"{result.duration:.2f} s"
    if result.status == "running":
        so_far = "no output yet" if no_output else "the output so far is above"
        return status_line(what, f"still running after {result.duration:.0f} s",
                           f"{so_far}; call wait_cell for the rest (nothing is shown twice) or interrupt_kernel "
                           "to stop it")
    parts = [what]
    if result.status == "ok":
        parts += ["exit 0" if shell else "ok", took]
    elif result.status == "error" and result.error is not None and not result.message:
        parts += [f"error: {result.error.ename}", took]
    else:
        parts += [result.status, result.message or (result.error.evalue if result.error else "")]
    if no_output:
        parts.append("no output" if not result.continued else "no output beyond what was shown")
    elif result.continued:
        parts.append("above is only the output not shown before")
    return status_line(*parts)


def result_wait(ctx: Context) -> float:
    """How long a call waits for its cell: `result_wait`, or less for a client known to give up sooner."""
    settings = manager_of(ctx).settings
    params = getattr(ctx.session, "client_params", None)
    name = params.client_info.name if params is not None and params.client_info is not None else None
    return min(settings.result_wait, settings.result_wait_by_client.get(name or "", settings.result_wait))


def _without_images(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An overview names images instead of decoding them."""
    placeholder = {"output_type": "stream", "name": "stdout", "text": "[image]\n"}
    return [placeholder if any(k.startswith("image/") for k in o.get("data", {})) else o for o in outputs]


def _progress_forwarder(ctx: Context, timeout: float) -> Any:
    report = progress_of(ctx)

    async def forward(progress: CellProgress) -> None:
        await report(round(progress.elapsed, 1), timeout, progress.last_line or "running")

    return forward


def register(mcp: FastMCP) -> None:
    @mcp.tool(annotations={"title": "Start a notebook session", "destructiveHint": False})
    @model_errors
    async def start_session(
        ctx: Context,
        sandbox_id: Annotated[str | None, Field(
            description="The sandbox; may be left out when exactly one is running.")] = None,
        name: Annotated[str | None, Field(description="Names the notebook file, e.g. 'probing'.")] = None,
        kind: Annotated[Literal["notebook", "cli"], Field(
            description="'notebook': a Jupyter kernel. 'cli': a persistent bash shell.")] = "notebook",
    ) -> dict[str, Any]:
        """Start a Jupyter kernel in a sandbox. Its cells are saved to a .ipynb notebook.

        The sandbox's models are already loaded in it. Returns session_id, notebook_path and
        model_info (variable names, layers, hidden size, dtype, device). Variables persist
        across execute_code calls. With kind='cli' the session is a shell instead: execute_code
        runs bash commands in it, and the working directory, variables, functions and aliases
        carry over from one command to the next; a transcript is saved next to the notebooks.
        """
        if name is not None and any(unicodedata.category(c) == "Cc" for c in name):
            raise InvalidRequest(f"session name {name!r} has a line break or another control character; "
                                 "give a one-line label such as 'probing'")
        return await manager_of(ctx).start_session(sandbox_id, name, kind)

    @mcp.resource("seer://sessions/{session_id}/model-info", mime_type="text/markdown",
                  description="The models preloaded in a session: variables, layers, hidden size, dtype, device.")
    @model_errors
    async def session_model_info(session_id: str, ctx: Context) -> str:
        record, _ = manager_of(ctx).session(session_id)
        return record.model_info or "No models are preloaded in this session."

    @mcp.tool(annotations={"title": "Run a notebook cell", "destructiveHint": False, "openWorldHint": True})
    @model_errors
    async def execute_code(ctx: Context, code: str, session_id: SessionId = None,
                           timeout: CellTimeout = None) -> ToolResult:
        """Run Python code as a new notebook cell in the session's kernel, like a Jupyter cell.

        State persists between cells. You see stdout/stderr, the last expression's value, plots as
        images, and errors with their traceback. Long output is cut to its head and tail; the whole
        output stays in the notebook. A cell past its timeout is interrupted (variables survive).
        A cell that runs longer than this call waits comes back "still running" with its output so
        far; it goes on, and wait_cell shows the rest. In a cli session, `code` is a bash command
        line instead; a non-zero exit status is an error.
        """
        manager = manager_of(ctx)
        effective = timeout or manager.settings.cell_timeout
        result, session = await manager.execute(session_id, code, timeout, _progress_forwarder(ctx, effective),
                                                wait=result_wait(ctx))
        return cell_result(manager.settings, result, session)

    @mcp.tool(annotations={"title": "Replace and re-run a cell", "destructiveHint": True})
    @model_errors
    async def edit_cell(ctx: Context, cell_index: Annotated[int, Field(ge=0)], code: str,
                        session_id: SessionId = None, timeout: CellTimeout = None) -> ToolResult:
        """Replace the code of an existing cell (by its 0-based cell_index), re-run it in the current
        kernel state, and store the new outputs in place of the old ones."""
        manager = manager_of(ctx)
        effective = timeout or manager.settings.cell_timeout
        result, session = await manager.edit_cell(session_id, cell_index, code, timeout,
                                                  _progress_forwarder(ctx, effective), wait=result_wait(ctx))
        return cell_result(manager.settings, result, session)

    @mcp.tool(annotations={"title": "Wait for a running cell", "readOnlyHint": True})
    @model_errors
    async def wait_cell(ctx: Context, session_id: SessionId = None) -> ToolResult:
        """Wait for the cell that execute_code or edit_cell left running (status "still running"), and
        show its output since the last call: only what was not shown before, then how it ended. Call
        it again while the cell still runs; interrupt_kernel stops the cell."""
        wait = result_wait(ctx)
        manager = manager_of(ctx)
        result, session = await manager.wait_cell(session_id, wait, _progress_forwarder(ctx, wait))
        return cell_result(manager.settings, result, session)

    @mcp.tool(annotations={"title": "Add a markdown cell", "destructiveHint": False})
    @model_errors
    async def add_markdown(ctx: Context, content: str, session_id: SessionId = None) -> dict[str, Any]:
        """Append a markdown cell to the notebook: notes, hypotheses, conclusions."""
        return await manager_of(ctx).add_markdown(session_id, content)

    @mcp.tool(annotations={"title": "Interrupt the running cell", "destructiveHint": False})
    @model_errors
    async def interrupt_kernel(ctx: Context, session_id: SessionId = None) -> dict[str, Any]:
        """Interrupt the cell running in a session (like Ctrl-C). Variables survive."""
        return await manager_of(ctx).interrupt(session_id)

    @mcp.tool(annotations={"title": "Restart the kernel", "destructiveHint": True})
    @model_errors
    async def restart_kernel(ctx: Context, session_id: SessionId = None) -> dict[str, Any]:
        """Restart a session's kernel: all variables are lost, the notebook keeps its cells.
        Use it after the kernel died or got stuck."""
        return await manager_of(ctx).restart(session_id)

    @mcp.tool(annotations={"title": "End a session", "destructiveHint": True})
    @model_errors
    async def end_session(ctx: Context, session_id: SessionId = None) -> dict[str, Any]:
        """Shut down a session's kernel. Its notebook stays saved."""
        return await manager_of(ctx).end_session(session_id)

    @mcp.tool(annotations={"title": "Read the notebook", "readOnlyHint": True})
    @model_errors
    async def read_notebook(ctx: Context, session_id: SessionId = None,
                            start: Annotated[int, Field(ge=0)] = 0,
                            limit: Annotated[int, Field(ge=1, le=200)] = 20) -> ToolResult:
        """Read cells of the session's notebook: each cell's index, source and shortened output."""
        page = await manager_of(ctx).read_notebook(session_id, start, limit)
        return _notebook_page(page)


def _notebook_page(page: NotebookPage) -> ToolResult:
    """A page of the notebook as text: an overview, so each output is cut short and images are only named."""
    budget = OutputBudget(_NOTEBOOK_OUTPUT_CHARS)
    pieces: list[str] = []
    for cell in page.cells:
        if cell.cell_type != "code":
            pieces.append(f"--- [{cell.index}] {cell.cell_type}\n{cell.source}")
            continue
        shaped = shape_outputs(_without_images(cell.outputs), budget, 64, f"cell {cell.index}")
        output = "\n".join(c.text for c in shaped.content if isinstance(c, mcp_types.TextContent)).rstrip("\n")
        pieces.append(f"--- [{cell.index}] code, execution_count {cell.execution_count}\n{cell.source}"
                      + (f"\n--- output of [{cell.index}]\n{output}" if output else ""))
    shown = f"cells {page.start}-{page.start + len(page.cells) - 1}" if page.cells else "no cells"
    more = page.start + len(page.cells) < page.total_cells
    status = status_line(f"{page.notebook_path}", f"{shown} of {page.total_cells}",
                         f"read on with start={page.start + len(page.cells)}" if more else "")
    meta = {"total_cells": page.total_cells, "start": page.start, "cells_shown": len(page.cells),
            "notebook_path": page.notebook_path}
    return output_result([mcp_types.TextContent(type="text", text="\n".join(pieces))] if pieces else [],
                         status, meta)
