"""Tools for kernel sessions and notebook cells."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import mcp_types
from fastmcp import Context, FastMCP
from fastmcp.tools import ToolResult
from pydantic import Field

from seer_mcp.state import SessionRecord
from seer_mcp.tools.common import manager_of, model_errors, progress_of
from seer_mcp.tools.shaping import OutputBudget, shape_outputs, strip_ansi
from seer_mcp.wire import CellProgress, CellResult

SessionId = Annotated[str | None, Field(
    description="The session to use; may be left out when exactly one session is open.")]
CellTimeout = Annotated[float | None, Field(
    gt=0, description="Seconds before the cell is interrupted (default: the server's cell timeout).")]

# How much of each output read_notebook shows: it is an overview, not a replay.
_NOTEBOOK_OUTPUT_CHARS = 500


def _cell_result(ctx: Context, result: CellResult, session: SessionRecord) -> ToolResult:
    settings = manager_of(ctx).settings
    where = f"cell {result.cell_index} of {session.mirror_path}"
    shaped = shape_outputs(result.outputs, OutputBudget(settings.output_budget), settings.image_max_px, where)
    content: list[Any] = list(shaped.content)
    structured: dict[str, Any] = {
        "status": result.status,
        "execution_count": result.execution_count,
        "cell_index": result.cell_index,
        "session_id": session.session_id,
        "notebook_copy": session.mirror_path,
        "duration_s": result.duration,
        "truncated": {"chars_cut": shaped.chars_cut, "images_downscaled": shaped.images_downscaled},
    }
    if result.error is not None:
        structured["error"] = {
            "ename": result.error.ename, "evalue": result.error.evalue,
            "traceback": strip_ansi("\n".join(result.error.traceback)),
        }
    if result.message:
        structured["message"] = result.message
        content.append(mcp_types.TextContent(type="text", text=f"[{result.status}] {result.message}"))
    if not content:
        done = (f"command {result.execution_count} exited 0" if session.kind == "cli"
                else f"cell {result.cell_index} ran, execution_count {result.execution_count}")
        content.append(mcp_types.TextContent(type="text", text=f"[{done}: no output]"))
    return ToolResult(content=content, structured_content=structured, is_error=result.status != "ok")


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
        In a cli session, `code` is a bash command line instead; a non-zero exit status is an error.
        """
        manager = manager_of(ctx)
        effective = timeout or manager.settings.cell_timeout
        result, session = await manager.execute(session_id, code, timeout, _progress_forwarder(ctx, effective))
        return _cell_result(ctx, result, session)

    @mcp.tool(annotations={"title": "Replace and re-run a cell", "destructiveHint": True})
    @model_errors
    async def edit_cell(ctx: Context, cell_index: Annotated[int, Field(ge=0)], code: str,
                        session_id: SessionId = None, timeout: CellTimeout = None) -> ToolResult:
        """Replace the code of an existing cell (by its 0-based cell_index), re-run it in the current
        kernel state, and store the new outputs in place of the old ones."""
        manager = manager_of(ctx)
        effective = timeout or manager.settings.cell_timeout
        result, session = await manager.edit_cell(session_id, cell_index, code, timeout,
                                                  _progress_forwarder(ctx, effective))
        return _cell_result(ctx, result, session)

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
                            limit: Annotated[int, Field(ge=1, le=200)] = 20) -> dict[str, Any]:
        """Read cells of the session's notebook: sources with shortened outputs."""
        page = await manager_of(ctx).read_notebook(session_id, start, limit)
        budget = OutputBudget(_NOTEBOOK_OUTPUT_CHARS)
        cells = []
        for cell in page.cells:
            entry: dict[str, Any] = {"index": cell.index, "cell_type": cell.cell_type, "source": cell.source}
            if cell.cell_type == "code":
                shaped = shape_outputs(_without_images(cell.outputs), budget, 64, f"cell {cell.index}")
                entry["execution_count"] = cell.execution_count
                entry["output"] = "\n".join(c.text for c in shaped.content if isinstance(c, mcp_types.TextContent))
            cells.append(entry)
        return {"total_cells": page.total_cells, "start": page.start, "cells": cells,
                "notebook_path": page.notebook_path}
