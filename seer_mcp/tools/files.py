"""Tools for shell commands and files inside a sandbox (never on the server's host)."""

from __future__ import annotations

from typing import Annotated, Any

import mcp_types
from fastmcp import Context, FastMCP
from fastmcp.tools import ToolResult
from pydantic import Field

from seer_mcp.limits import MAX_EXEC_TIMEOUT_S, seconds_limit
from seer_mcp.tools.common import manager_of, model_errors
from seer_mcp.tools.results import output_result, status_line
from seer_mcp.tools.shaping import OutputBudget, collapse_carriage_returns, strip_ansi

SandboxId = Annotated[str | None, Field(
    description="The sandbox; may be left out when exactly one is running.")]


def _shown(text: str, budget: OutputBudget, where: str) -> tuple[str, int]:
    return budget.cut(collapse_carriage_returns(strip_ansi(text)), where)


def _texts(pieces: list[str]) -> list[mcp_types.TextContent]:
    return [mcp_types.TextContent(type="text", text=piece) for piece in pieces]


def register(mcp: FastMCP) -> None:
    @mcp.tool(annotations={"title": "Run a shell command in a sandbox", "destructiveHint": True,
                           "openWorldHint": True})
    @model_errors
    async def sandbox_exec(ctx: Context, command: str, sandbox_id: SandboxId = None,
                           timeout: Annotated[float, Field(
                               gt=0, le=MAX_EXEC_TIMEOUT_S,
                               description=f"Seconds before the command is killed, at most "
                                           f"{seconds_limit(MAX_EXEC_TIMEOUT_S)}.")] = 60) -> ToolResult:
        """Run a bash command in the sandbox's workspace; shows its stdout, its stderr and the exit code.
        The command is killed at its timeout, with everything it started."""
        manager = manager_of(ctx)
        result = await manager.exec(sandbox_id, command, timeout)
        half = OutputBudget(manager.settings.output_budget // 2)
        stdout, cut_out = _shown(result.stdout, half, "the command's stdout (rerun with a redirect to a file)")
        stderr, cut_err = _shown(result.stderr, half, "the command's stderr (rerun with a redirect to a file)")
        pieces = [stdout] if stdout else []
        if stderr:
            pieces.append(f"--- stderr\n{stderr}")
        ending = f"killed at its {timeout:g} s timeout" if result.timed_out else f"exit {result.exit_code}"
        meta = {"exit_code": result.exit_code, "timed_out": result.timed_out, "chars_cut": cut_out + cut_err,
                "stdout_chars": len(result.stdout), "stderr_chars": len(result.stderr)}
        return output_result(_texts(pieces), status_line(ending, "" if pieces else "no output"), meta)

    @mcp.tool(annotations={"title": "Read a file in a sandbox", "readOnlyHint": True})
    @model_errors
    async def read_file(ctx: Context, path: str, sandbox_id: SandboxId = None) -> ToolResult:
        """Read a text file from the sandbox's workspace (paths are relative to it)."""
        manager = manager_of(ctx)
        file = await manager.read_file(sandbox_id, path)
        content, cut = OutputBudget(manager.settings.output_budget).cut(file.content, f"{file.path} (read it in a cell)")
        truncated = file.truncated or cut > 0
        note = "only the start and end are shown: read the rest in a cell" if truncated else ""
        meta = {"path": file.path, "size": file.size, "chars_cut": cut, "truncated": truncated}
        return output_result(_texts([content] if content else []),
                             status_line(file.path, f"{file.size:,} bytes", note or ("empty" if not content else "")),
                             meta)

    @mcp.tool(annotations={"title": "Write a file in a sandbox", "destructiveHint": True})
    @model_errors
    async def write_file(ctx: Context, path: str, content: str, sandbox_id: SandboxId = None) -> dict[str, Any]:
        """Create or overwrite a text file in the sandbox's workspace; parent folders are created."""
        entry = await manager_of(ctx).write_file(sandbox_id, path, content)
        return entry.model_dump()

    @mcp.tool(annotations={"title": "List files in a sandbox", "readOnlyHint": True})
    @model_errors
    async def list_files(ctx: Context, path: str = ".", sandbox_id: SandboxId = None) -> dict[str, Any]:
        """List a folder of the sandbox's workspace (folders first)."""
        listing = await manager_of(ctx).list_files(sandbox_id, path)
        return listing.model_dump()
