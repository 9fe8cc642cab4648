"""The agent's workspace: libraries, skills and host files placed in a sandbox, plus set-up code.

Everything is copied through the sandbox agent's file endpoint, so it works the
same for every backend. Host paths are confined to the roots the operator
allows (SEER_ALLOWED_HOST_ROOTS). The libraries' documentation is read from
their source with `ast` (nothing is imported on the server) and handed to the
agent in `start_session`'s result.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from seer_mcp.errors import InvalidRequest, PathOutsideSandbox

LIBRARIES_DIR = "libraries"
SKILLS_DIR = "skills"
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # fullmatch: `$` would let a trailing newline through
_MAX_HOST_BYTES = 2_000_000_000


class LibrarySpec(BaseModel):
    """A Python module every kernel imports: a file, a package folder, or code."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="Module name; defaults to the file or folder name.")
    path: str | None = Field(default=None, description="A host .py file or package/skill folder.")
    code: str | None = Field(default=None, description="The module's source, when there is no file.")

    @model_validator(mode="after")
    def _one_source(self) -> "LibrarySpec":
        if (self.path is None) == (self.code is None):
            raise ValueError("a library needs exactly one of path or code")
        if self.code is not None and not self.name:
            raise ValueError("a library given as code needs a name")
        name = self.module_name
        if not _MODULE.fullmatch(name):
            raise ValueError(f"library name {name!r} is not a Python module name")
        return self

    @property
    def module_name(self) -> str:
        if self.name:
            return self.name
        return Path(self.path or "").stem


class WorkspaceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    libraries: list[LibrarySpec] = Field(default_factory=list)
    skill_dirs: list[str] = Field(default_factory=list, description="Host folders holding a SKILL.md.")
    local_files: dict[str, str] = Field(default_factory=dict, description="Host file -> path in the workspace.")
    local_dirs: dict[str, str] = Field(default_factory=dict, description="Host folder -> path in the workspace.")
    custom_init_code: str | None = Field(default=None, description="Run in each new kernel, outside the notebook.")
    preload_models: bool = Field(default=True, description="Load the sandbox's models in each new session.")
    hidden_model_loading: bool = Field(default=True, description="Keep model loading out of the notebook.")


@dataclass
class Upload:
    sandbox_path: str  # relative to the workspace
    data: bytes


@dataclass
class PreparedWorkspace:
    uploads: list[Upload] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    docs: str = ""
    skills: list[dict[str, str]] = field(default_factory=list)

    def init_code(self, workspace_path: str, custom: str | None) -> str | None:
        # The libraries folder is always importable: interface clients may land there mid-session.
        lines = ["import sys as _sys", f"_sys.path.insert(0, {str(Path(workspace_path) / LIBRARIES_DIR)!r})",
                 "del _sys"]
        lines += [f"import {module}" for module in self.modules]
        if custom:
            lines.append(custom)
        return "\n".join(lines) + "\n"


def confine_host_path(path: str, roots: list[Path]) -> Path:
    """The real path of a host file the agent named, if it lies under an allowed root."""
    real = Path(path).expanduser().resolve()
    for root in roots:
        if real == root.resolve() or real.is_relative_to(root.resolve()):
            if not real.exists():
                raise InvalidRequest(f"host path {path!r} does not exist")
            return real
    allowed = ", ".join(str(r) for r in roots) or "none"
    raise PathOutsideSandbox(f"host path {path!r} is outside the roots the operator allows ({allowed}); "
                             "the operator can add roots with SEER_ALLOWED_HOST_ROOTS")


def _sandbox_relative(path: str) -> str:
    relative = Path(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise PathOutsideSandbox(f"workspace path {path!r} must be relative and stay inside the workspace")
    return str(relative)


def _files_under(folder: Path) -> list[Path]:
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    total = sum(p.stat().st_size for p in files)
    if total > _MAX_HOST_BYTES:
        raise InvalidRequest(f"{folder} holds {total:,} bytes; copy data that large inside the sandbox instead")
    return files


def prepare_workspace(spec: WorkspaceSpec, roots: list[Path]) -> PreparedWorkspace:
    """Read everything the spec names from the host, checking every path first."""
    prepared = PreparedWorkspace()
    doc_parts = []
    for library in spec.libraries:
        module = library.module_name
        if library.code is not None:
            prepared.uploads.append(Upload(f"{LIBRARIES_DIR}/{module}.py", library.code.encode()))
            doc_parts.append(module_docs(module, library.code))
        else:
            source = confine_host_path(library.path or "", roots)
            if source.is_dir():
                for file in _files_under(source):
                    target = f"{LIBRARIES_DIR}/{module}/{file.relative_to(source)}"
                    prepared.uploads.append(Upload(target, file.read_bytes()))
                init = source / "__init__.py"
                doc_parts.append(module_docs(module, init.read_text() if init.exists() else ""))
                skill = source / "SKILL.md"
                if skill.exists():
                    doc_parts.append(skill.read_text().strip())
            else:
                text = source.read_text()
                prepared.uploads.append(Upload(f"{LIBRARIES_DIR}/{module}.py", text.encode()))
                doc_parts.append(module_docs(module, text))
        prepared.modules.append(module)
    for folder in spec.skill_dirs:
        source = confine_host_path(folder, roots)
        skill_file = source / "SKILL.md"
        if not skill_file.is_file():
            raise InvalidRequest(f"skill folder {folder!r} has no SKILL.md")
        for file in _files_under(source):
            prepared.uploads.append(Upload(f"{SKILLS_DIR}/{source.name}/{file.relative_to(source)}", file.read_bytes()))
        prepared.skills.append({"name": source.name, "path": f"{SKILLS_DIR}/{source.name}/SKILL.md",
                                "description": skill_description(skill_file.read_text())})
    for host, target in spec.local_files.items():
        source = confine_host_path(host, roots)
        if not source.is_file():
            raise InvalidRequest(f"local_files: {host!r} is not a file (use local_dirs for folders)")
        prepared.uploads.append(Upload(_sandbox_relative(target), source.read_bytes()))
    for host, target in spec.local_dirs.items():
        source = confine_host_path(host, roots)
        if not source.is_dir():
            raise InvalidRequest(f"local_dirs: {host!r} is not a folder")
        base = _sandbox_relative(target)
        for file in _files_under(source):
            prepared.uploads.append(Upload(f"{base}/{file.relative_to(source)}", file.read_bytes()))
    if prepared.skills:
        doc_parts.append("Skills (read their SKILL.md before use):\n" + "\n".join(
            f"- {s['name']} ({s['path']}): {s['description']}" for s in prepared.skills))
    prepared.docs = "\n\n".join(part for part in doc_parts if part)
    return prepared


def skill_description(text: str) -> str:
    """The `description:` of a SKILL.md's front matter, else its first line of prose."""
    match = re.search(r"^description:\s*(.+)$", text, flags=re.MULTILINE)
    if match:
        return match.group(1).strip().strip("\"'")
    for line in text.splitlines():
        if line.strip() and not line.startswith(("---", "#", "name:")):
            return line.strip()
    return ""


def module_docs(module: str, source: str) -> str:
    """A module's docstring and public signatures, read from its source without importing it."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise InvalidRequest(f"library {module!r} has a syntax error at line {exc.lineno}: {exc.msg}") from None
    lines = [f"### `{module}`"]
    doc = ast.get_docstring(tree)
    if doc:
        lines.append(doc.strip())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            lines.append(f"- `{_signature(node)}`" + (f": {_first_paragraph(node)}" if _first_paragraph(node) else ""))
    return "\n".join(lines)


def _signature(node: Any) -> str:
    if isinstance(node, ast.ClassDef):
        return f"class {node.name}"
    prefix = "async def " if isinstance(node, ast.AsyncFunctionDef) else "def "
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"{prefix}{node.name}({ast.unparse(node.args)}){returns}"


def _first_paragraph(node: Any) -> str:
    doc = ast.get_docstring(node) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())
