"""One session's notebook, written atomically after every change.

The notebook is held in memory once, as the JSON text of each cell: saving
after a cell then costs a join and a write, not a re-serialisation of every
earlier cell (nbformat.writes re-validates and re-encodes the whole notebook,
which grows linearly with its length). The file on disk is always a complete,
valid nbformat v4 notebook: a temporary file is written beside it, fsynced and
renamed over the old one, so a crash at any moment leaves either the previous
or the new version.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from seer_mcp.agent import beneath
from seer_mcp.fileio import write_atomically
from seer_mcp.wire import NotebookCell, NotebookPage

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def output_from_msg(msg: dict[str, Any]) -> dict[str, Any]:
    """The nbformat v4 output for an IOPub message.

    Built directly rather than with nbformat.v4.output_from_msg, which validates
    every output against the JSON schema: a cost paid on every cell. The saved
    notebook is validated by the test suite instead.
    """
    kind, content = msg["msg_type"], msg["content"]
    if kind == "stream":
        return {"output_type": "stream", "name": content["name"], "text": content.get("text", "")}
    if kind == "error":
        return {"output_type": "error", "ename": content.get("ename", ""), "evalue": content.get("evalue", ""),
                "traceback": list(content.get("traceback", []))}
    out = {"output_type": kind, "data": content.get("data", {}), "metadata": content.get("metadata", {})}
    if kind == "execute_result":
        out["execution_count"] = content.get("execution_count")
    return out


def _cell_json(cell: dict[str, Any]) -> str:
    # Indented as it sits inside the "cells" list, so the file reads like nbformat's own output.
    return "  " + json.dumps(cell, indent=1, sort_keys=True, ensure_ascii=False).replace("\n", "\n  ")


class NotebookFile:
    """The notebook of one kernel session, plus an optional mirror copy.

    With a `workspace` (the sandbox's, which `path` lies in), every read and
    write of `path` is walked beneath it: the sandbox can write there, and must
    not make the agent follow a link out of it.
    """

    def __init__(self, path: Path, mirror_path: Path | None = None, workspace: Path | None = None) -> None:
        self.path = path
        self.mirror_path = mirror_path
        self.workspace = workspace
        text = self._read()
        if text is not None:
            # Only to open a notebook that is there already: nbformat brings jsonschema and its format
            # checkers (one compiles a grammar), seconds of a sandbox's start and tens of MiB in every agent.
            import nbformat

            nb = nbformat.reads(text, as_version=4)
            self._metadata = dict(nb.metadata)
            self._cells = [_cell_json(cell) for cell in nb.cells]
        else:
            self._metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
            self._cells = []
            self.save()

    def _read(self) -> str | None:
        if self.workspace is None:
            return self.path.read_text(encoding="utf-8") if self.path.exists() else None
        try:
            fd, _ = beneath.open_file(self.workspace, str(self.path.relative_to(self.workspace)))
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as f:
            return f.read().decode("utf-8")

    def remove(self) -> None:
        """Deletes the file (the mirror copy stays); a missing one is no error."""
        if self.workspace is None:
            self.path.unlink(missing_ok=True)
        else:
            beneath.remove(self.workspace, str(self.path.relative_to(self.workspace)))

    @property
    def cell_count(self) -> int:
        return len(self._cells)

    def append_code(self, source: str, execution_count: int | None,
                    outputs: list[dict[str, Any]], meta: dict[str, Any]) -> int:
        self._cells.append(_cell_json(self._code_cell(source, execution_count, outputs, meta)))
        self.save()
        return len(self._cells) - 1

    def replace_code(self, index: int, source: str, execution_count: int | None,
                     outputs: list[dict[str, Any]], meta: dict[str, Any]) -> None:
        cell = self._code_cell(source, execution_count, outputs, meta)
        cell["id"] = self.cell(index).get("id", cell["id"])  # the cell keeps its identity
        self._cells[index] = _cell_json(cell)
        self.save()

    def append_markdown(self, content: str) -> int:
        self._cells.append(_cell_json({"cell_type": "markdown", "id": uuid.uuid4().hex[:8],
                                       "metadata": {}, "source": content}))
        self.save()
        return len(self._cells) - 1

    def cell(self, index: int) -> dict[str, Any]:
        return json.loads(self._cells[index])

    def page(self, start: int, limit: int) -> NotebookPage:
        cells = []
        for index in range(start, min(start + limit, len(self._cells))):
            cell = self.cell(index)
            source = cell.get("source", "")
            cells.append(NotebookCell(
                index=index, cell_type=cell["cell_type"],
                source="".join(source) if isinstance(source, list) else source,
                execution_count=cell.get("execution_count"), outputs=cell.get("outputs", []),
            ))
        return NotebookPage(total_cells=len(self._cells), start=start, cells=cells, notebook_path=str(self.path))

    def serialize(self) -> bytes:
        metadata = json.dumps(self._metadata, indent=1, sort_keys=True, ensure_ascii=False).replace("\n", "\n ")
        cells = "[\n" + ",\n".join(self._cells) + "\n ]" if self._cells else "[]"
        text = f'{{\n "cells": {cells},\n "metadata": {metadata},\n "nbformat": 4,\n "nbformat_minor": 5\n}}\n'
        return text.encode()

    def save(self) -> None:
        copies = (self.mirror_path,) if self.mirror_path is not None else ()
        if self.workspace is None:
            write_atomically(self.path, self.serialize(), copies=copies)
        else:
            beneath.replace_file(self.workspace, str(self.path.relative_to(self.workspace)), self.serialize(),
                                 durable=True, copies=copies)

    @staticmethod
    def _code_cell(source: str, execution_count: int | None,
                   outputs: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
        return {"cell_type": "code", "execution_count": execution_count, "id": uuid.uuid4().hex[:8],
                "metadata": {"seer": {**meta, "saved_at": time.time()}}, "outputs": outputs, "source": source}
