"""The runtime placed beside interface clients: what it may import, what it agrees with, and that it lints.

Its calls are tested through generated clients, in tests/test_interface_client.py.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from seer_mcp.manager import interface_runtime
from seer_mcp.manager.interface_client import RUNTIME_FILE, client_files, runtime_source
from seer_mcp.wire import ErrorKind, InterfaceCallResult, InterfaceFunction

RUNTIME_PATH = Path(interface_runtime.__file__)
REPO_ROOT = Path(__file__).resolve().parents[1]
PING = InterfaceFunction(name="ping", signature="()", input_schema={"type": "object"})


def test_the_runtime_knows_exactly_the_agents_error_kinds() -> None:
    assert interface_runtime.AGENT_ERROR_KINDS == {kind.value for kind in ErrorKind}
    for kind in ErrorKind:
        assert getattr(interface_runtime, kind.name) == kind.value, kind


def test_the_runtime_knows_exactly_how_a_finished_call_fails() -> None:
    literal, _none = typing.get_args(InterfaceCallResult.model_fields["kind"].annotation)
    assert interface_runtime.CALL_FAILURE_KINDS == set(typing.get_args(literal))


def test_the_runtime_imports_only_the_standard_library() -> None:
    tree = ast.parse(RUNTIME_PATH.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    # numpy, when a reply holds an array, is looked up with importlib.import_module and may be missing.
    assert imported and imported <= sys.stdlib_module_names, imported - sys.stdlib_module_names


def test_the_runtime_is_the_same_file_for_every_interface() -> None:
    alpha = client_files("alpha", [PING], token="a", socket_path="/a.sock")
    beta = client_files("beta", [PING], token="b", url="https://agent.example/beta", call_timeout=5)
    assert list(alpha) == [RUNTIME_FILE, "alpha.py"] and list(beta) == [RUNTIME_FILE, "beta.py"]
    assert alpha[RUNTIME_FILE] == beta[RUNTIME_FILE] == runtime_source() == RUNTIME_PATH.read_bytes()
    # serve_interface's names start with a letter, so no interface's client can take the runtime's file name.
    assert RUNTIME_FILE == f"{interface_runtime.RUNTIME_MODULE}.py"
    assert not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,47}", interface_runtime.RUNTIME_MODULE)


def test_the_public_names_exist() -> None:
    assert all(hasattr(interface_runtime, name) for name in interface_runtime.__all__)


def _tool(module: str) -> list[str]:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[dev]' installs it)")
    return [sys.executable, "-m", module]


def test_the_runtime_passes_ruff() -> None:
    done = subprocess.run([*_tool("ruff"), "check", "--no-cache", str(RUNTIME_PATH.relative_to(REPO_ROOT))],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_runtime_passes_mypy_strict_as_it_is_placed(tmp_path: Path) -> None:
    """Checked as the file beside the clients, so mypy sees no package around it (and nothing of seer_mcp)."""
    mypy = _tool("mypy")
    shutil.copyfile(RUNTIME_PATH, tmp_path / RUNTIME_FILE)
    done = subprocess.run([*mypy, "--strict", "--python-version", "3.11", "--cache-dir", str(tmp_path / "cache"),
                           RUNTIME_FILE], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
