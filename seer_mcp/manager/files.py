"""A sandbox's shell commands and workspace files, reached through its agent (which checks every path)."""

from __future__ import annotations

from seer_mcp.manager.registry import SandboxRegistry
from seer_mcp.wire import ExecResult, FileContent, FileEntry, FileList


class SandboxFiles:
    def __init__(self, registry: SandboxRegistry) -> None:
        self._registry = registry

    async def exec(self, sandbox_id: str | None, command: str, timeout: float) -> ExecResult:
        async with self._registry.using(self._registry.sandbox(sandbox_id)) as client:
            return await client.exec(command, timeout)

    async def read_file(self, sandbox_id: str | None, path: str) -> FileContent:
        async with self._registry.using(self._registry.sandbox(sandbox_id)) as client:
            return await client.read_file(path)

    async def write_file(self, sandbox_id: str | None, path: str, content: str) -> FileEntry:
        async with self._registry.using(self._registry.sandbox(sandbox_id)) as client:
            return await client.write_file(path, content)

    async def list_files(self, sandbox_id: str | None, path: str) -> FileList:
        async with self._registry.using(self._registry.sandbox(sandbox_id)) as client:
            return await client.list_files(path)
