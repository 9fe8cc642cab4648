"""The environment variables a workspace's libraries read by name, for Seer's local mode.

Seer's `create_local_notebook_session` ran the notebook in the caller's own environment, so its Kimi
example's `openrouter_client.py` found `OPENROUTER_API_KEY` there. seer-mcp's local notebook is a
sandbox that sees none of the caller's variables; what a library plainly asks for by name
(`os.environ["X"]`, `os.environ.get("X")`, `os.getenv("X")`, with a literal name) is what it gets,
and nothing else: not the agent's key, not the rest of the caller's secrets.
"""

from __future__ import annotations

import ast
from pathlib import Path

from seer_mcp.api.workspace import Library

__all__ = ["variables_read", "variables_read_by"]


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_environ(node: ast.AST) -> bool:
    """`os.environ` or a bare `environ` (from `from os import environ`)."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


def variables_read(code: str) -> list[str]:
    """The variable names `code` reads from the environment by a literal name, in order, each once."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            name = _literal(node.slice)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault") and _is_environ(func.value):
                name = _literal(node.args[0])
            elif (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
                    isinstance(func, ast.Name) and func.id == "getenv"):
                name = _literal(node.args[0])
        if name and name not in names:
            names.append(name)
    return names


def variables_read_by(libraries: list[Library]) -> list[str]:
    """The names every library (a file, a package folder's .py files, or code) reads, each once."""
    names: list[str] = []
    for library in libraries:
        sources = [library.code] if library.code is not None else []
        if library.path is not None:
            path = Path(library.path)
            files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
            sources += [f.read_text(errors="replace") for f in files if f.suffix == ".py"]
        for source in sources:
            names += [name for name in variables_read(source) if name not in names]
    return names
