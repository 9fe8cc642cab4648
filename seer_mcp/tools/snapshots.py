"""Tools that save a sandbox's state and start new sandboxes from it."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import Context, FastMCP
from pydantic import Field

from seer_mcp.tools.common import manager_of, model_errors, progress_of


def register(mcp: FastMCP) -> None:
    @mcp.tool(annotations={"title": "Snapshot a sandbox", "destructiveHint": False})
    @model_errors
    async def snapshot_sandbox(
        ctx: Context,
        sandbox_id: Annotated[str | None, Field(description="The sandbox; may be left out when exactly one "
                                                            "is running.")] = None,
        label: Annotated[str | None, Field(description="A note for people, e.g. 'after the probe'.")] = None,
    ) -> dict[str, Any]:
        """Save a sandbox's files (workspace, notebooks, installed packages) as a snapshot.

        Kernel memory is not saved: restore_snapshot(replay=True) re-runs the notebooks instead.
        The sandbox keeps running.
        """
        return await manager_of(ctx).snapshots.take(sandbox_id, label, progress_of(ctx))

    @mcp.tool(annotations={"title": "List snapshots", "readOnlyHint": True})
    @model_errors
    async def list_snapshots(ctx: Context) -> dict[str, Any]:
        """List saved snapshots, oldest first: id, label, source sandbox, notebooks, when."""
        return {"snapshots": manager_of(ctx).snapshots.list()}

    @mcp.tool(annotations={"title": "Restore a snapshot", "destructiveHint": False, "openWorldHint": True})
    @model_errors
    async def restore_snapshot(
        ctx: Context,
        snapshot_id: str,
        replay: Annotated[bool, Field(description="Re-run each saved notebook's code cells in a new session, "
                                                  "so variables come back; failing cells are reported.")] = False,
    ) -> dict[str, Any]:
        """Start a new sandbox from a snapshot, with the same spec, models and files."""
        return await manager_of(ctx).snapshots.restore(snapshot_id, replay, progress_of(ctx))

    @mcp.tool(annotations={"title": "Delete a snapshot", "destructiveHint": True})
    @model_errors
    async def delete_snapshot(ctx: Context, snapshot_id: str) -> dict[str, Any]:
        """Delete a snapshot and the files it kept. Sandboxes restored from it are not touched."""
        return await manager_of(ctx).snapshots.delete(snapshot_id)
