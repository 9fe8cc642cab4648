"""Workspaces, libraries and skills for scripts, in Seer's shape, on `seer_mcp.workspace`.

A `Workspace` is what a session's agent gets: libraries its kernels import,
skill folders, files, set-up code. It becomes a `WorkspaceSpec`, prepared
(read, checked, documented) by the same code `create_sandbox` uses.
"""

from __future__ import annotations

import inspect
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from seer_mcp.api.config import workspace_relative
from seer_mcp.api.implicit_imports import with_implicit_imports
from seer_mcp.workspace import LibrarySpec, PreparedWorkspace, WorkspaceSpec, prepare_workspace

__all__ = ["Library", "Skill", "Workspace"]


@dataclass
class Library:
    """A module the agent imports: from a file, from code, from a skill folder, or a served interface's client."""

    name: str
    code: str | None = None
    path: str | None = None

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None) -> "Library":
        source = Path(path).expanduser().resolve()
        if not source.is_file():
            raise FileNotFoundError(f"library file {path} does not exist")
        return cls(name=name or source.stem, path=str(source))

    @classmethod
    def from_code(cls, name: str, code: str) -> "Library":
        return cls(name=name, code=code)

    @classmethod
    def from_skill_dir(cls, path: str | Path, name: str | None = None) -> "Library":
        """A skill folder used as a package: `import <folder name>`; its SKILL.md joins the docs."""
        source = Path(path).expanduser().resolve()
        if not source.is_dir():
            raise FileNotFoundError(f"skill folder {path} does not exist")
        return cls(name=name or source.name, path=str(source))

    def spec(self) -> LibrarySpec:
        return LibrarySpec(name=self.name, code=self.code, path=self.path)

    def get_prompt_docs(self) -> str:
        """The module's docstring and public signatures, as the agent is shown them."""
        return prepare_workspace(WorkspaceSpec(libraries=[self.spec()]), [Path("/")]).docs


@dataclass
class Skill:
    """A folder with a SKILL.md that agents discover."""

    path: str

    @classmethod
    def from_dir(cls, path: str | Path) -> "Skill":
        folder = Path(path).expanduser().resolve()
        if not (folder / "SKILL.md").is_file():
            raise FileNotFoundError(f"{path} has no SKILL.md")
        return cls(str(folder))

    @classmethod
    def from_function(cls, fn: Callable[..., Any], name: str | None = None) -> "Skill":
        """A skill made from one function: its source as a module, its docstring as the SKILL.md."""
        name = name or fn.__name__
        folder = Path(tempfile.mkdtemp(prefix=f"seer-skill-{name}-")) / name
        folder.mkdir()
        source = textwrap.dedent(inspect.getsource(fn))
        lines = [line for line in source.splitlines() if not line.lstrip().startswith("@expose")]
        (folder / f"{name}.py").write_text("\n".join(lines) + "\n")
        doc = inspect.getdoc(fn) or f"The function {fn.__name__}."
        (folder / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: {doc.splitlines()[0]}\n---\n\n# {name}\n\n"
            f"`{fn.__name__}{inspect.signature(fn)}`\n\n{doc}\n\nThe code is in `{name}.py` next to this file.\n")
        return cls(str(folder))


@dataclass
class Workspace:
    libraries: list[Library] = field(default_factory=list)
    skills: list[Skill] = field(default_factory=list)
    skill_dirs: list[str] = field(default_factory=list)
    local_dirs: list[tuple[str, str]] = field(default_factory=list)
    local_files: list[tuple[str, str]] = field(default_factory=list)
    custom_init_code: str | None = None
    preload_models: bool = True
    hidden_model_loading: bool = True

    def spec(self) -> WorkspaceSpec:
        return WorkspaceSpec(
            libraries=[library.spec() for library in self.libraries],
            skill_dirs=[*(str(Path(d).expanduser().resolve()) for d in self.skill_dirs),
                        *(skill.path for skill in self.skills)],
            local_files={str(Path(h).expanduser().resolve()): workspace_relative(d) for h, d in self.local_files},
            local_dirs={str(Path(h).expanduser().resolve()): workspace_relative(d) for h, d in self.local_dirs},
            # as in Seer, where it ran after the model loading's imports (see implicit_imports)
            custom_init_code=with_implicit_imports(self.custom_init_code) if self.custom_init_code else None,
            preload_models=self.preload_models,
            hidden_model_loading=self.hidden_model_loading)

    def prepare(self) -> PreparedWorkspace:
        """Reads and checks every file it names (the script's own paths: no root limits them)."""
        return prepare_workspace(self.spec(), [Path("/")])

    def get_library_docs(self) -> str:
        """The libraries' and skills' docs, as the agent is shown them."""
        return self.prepare().docs
