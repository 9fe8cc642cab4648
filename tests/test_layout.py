"""The package's parts import only what docs/architecture.md says they may, and nothing imports in a circle."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seer_mcp"

SHARED = {"wire", "limits", "progress", "errors", "fileio", "bearer", "version"}
DOMAIN = {"settings", "spec", "models", "workspace", "interface"}
MCP = {"fastmcp", "mcp"}

# part -> (parts of seer_mcp it must not import, outside packages it must not import)
FORBIDDEN: dict[str, tuple[set[str], set[str]]] = {
    "shared": ({"agent", "backends", "manager", "tools", "server", "experiments", "api", "harness", "ui",
                "isolation", "cli", *DOMAIN}, MCP),
    "isolation": ({"agent", "backends", "manager", "tools", "server", "experiments", "api", "harness", "ui", "cli",
                   *SHARED, *DOMAIN}, MCP),
    "agent": ({"backends", "manager", "tools", "server", "experiments", "api", "harness", "ui", "cli"}, MCP),
    "backends": ({"manager", "tools", "server", "experiments", "api", "harness", "ui", "cli"}, set()),
    "manager": ({"agent", "tools", "server", "experiments", "api", "harness", "ui", "cli"}, MCP),
    "tools": ({"agent", "backends", "server", "api", "harness", "ui", "cli"}, set()),
    # Inspect's side is loaded by Inspect alone (its entry point): nothing of seer-mcp needs inspect_ai.
    **{part: ({"inspect_eval"}, {"inspect_ai"}) for part in ("server", "experiments", "api", "harness", "ui", "cli")},
}
for _part in ("shared", "isolation", "agent", "backends", "manager", "tools"):
    FORBIDDEN[_part][0].add("inspect_eval")
    FORBIDDEN[_part][1].add("inspect_ai")


# Modules that may import more than their part: the conformance suite drives a backend through a whole server.
EXCEPTIONS: dict[str, set[str]] = {"seer_mcp.backends.conformance": {"server"}}


def part_of(module: str) -> str:
    """`seer_mcp.manager.registry` -> "manager"; `seer_mcp.wire` -> "shared"; `seer_mcp.models` -> "models"."""
    name = module.split(".")[1] if "." in module else ""
    return "shared" if name in SHARED else name


def imports(path: Path) -> list[tuple[str, int]]:
    """Every name `path` imports, at any depth (TYPE_CHECKING and function-local ones too), with its line."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join(anchor + ([base] if base else []))
            # `from seer_mcp import wire` imports the module seer_mcp.wire, `from seer_mcp.wire import X` the module
            # seer_mcp.wire: callers keep the longest prefix that is a module.
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _layout_metrics() -> ModuleType:
    """scripts/layout_metrics.py, which finds the cycles for its report the same way."""
    spec = importlib.util.spec_from_file_location("layout_metrics", PACKAGE.parent / "scripts" / "layout_metrics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_a_part_imports_only_what_the_architecture_allows(part: str) -> None:
    own, outside = FORBIDDEN[part]
    wrong = []
    for path in modules():
        if part_of(module_name(path)) != part:
            continue
        allowed = EXCEPTIONS.get(module_name(path), set())
        for target, line in imports(path):
            top = target.split(".")[0]
            if top in outside or (top == "seer_mcp" and part_of(target) in own - allowed):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not wrong, f"{part} may not import these (docs/architecture.md):\n" + "\n".join(wrong)


def test_no_modules_import_each_other_in_a_circle() -> None:
    names = {module_name(p) for p in modules()}
    graph: dict[str, set[str]] = {}
    for path in modules():
        targets = set()
        for target, _ in imports(path):
            while target and target not in names:  # from seer_mcp.x import Name: the module is seer_mcp.x
                target = target.rpartition(".")[0]
            if target and target != module_name(path):
                targets.add(target)
        graph[module_name(path)] = targets
    cycles = _layout_metrics().strongly_connected(graph, [(a, b) for a, targets in graph.items() for b in targets])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
