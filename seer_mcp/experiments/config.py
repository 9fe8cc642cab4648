"""Experiment configs: one TOML file that says what an experiment's agent gets, and nothing more.

`seer-mcp serve --experiment CONFIG` (operator mode) and the harness (`seer-mcp run CONFIG`)
read a config, create its sandbox, session and interfaces themselves, and expose only the
tools the config allows: the agent never sees `create_sandbox` or the config. So a config
is checked whole, before anything starts, and every problem is reported with the file and the
dotted path of the field (`configs/x.toml: agent.tools[1]: unknown tool 'execute'; ...`).

The sandbox part is a `SandboxSpec` (models, workspace) exactly as `create_sandbox` takes it;
host paths in the config are relative to the config file's directory and become absolute here.
"""

from __future__ import annotations

import difflib
import json
import keyword
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from seer_mcp.errors import InvalidRequest
from seer_mcp.limits import MAX_INTERFACE_CALL_TIMEOUT_S
from seer_mcp.experiments.sweep_config import SweepConfig
from seer_mcp.spec import SandboxSpec
from seer_mcp.tools.groups import INTERFACE_TOOLS, TOOL_GROUPS, TOOL_NAMES

__all__ = [
    "INTERFACE_TOOLS", "KNOWN_TOOLS", "TOOL_GROUPS", "AgentConfig", "ConfigError", "ExperimentConfig",
    "ExperimentInfo", "InterfaceConfig", "SessionConfig", "default_tools", "expand_tools",
]

# The groups and names themselves live with the tools (`seer_mcp.tools.groups`), the one list of them.
KNOWN_TOOLS: frozenset[str] = TOOL_NAMES  # the tool names a config may give besides groups

# Matched with fullmatch: `$` would also match before a trailing newline.
_EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SESSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BASE_DIR = "base_dir"  # validation-context key: the folder relative host paths start from
_TOML_POSITION = re.compile(r"^(?P<message>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$", re.DOTALL)


def expand_tools(entries: list[str]) -> set[str]:
    """Tool names and groups -> concrete tool names, plus INTERFACE_TOOLS when interface tools are allowed."""
    allowed: set[str] = set()
    for entry in entries:
        allowed.update(TOOL_GROUPS.get(entry, (entry,)))
    return allowed


def default_tools(has_session: bool, has_interfaces: bool, has_mcp_interfaces: bool) -> list[str]:
    """What the agent gets when the config has no `[agent].tools`: what the config sets up for it."""
    if has_session:
        return ["cells", "interfaces"] if has_mcp_interfaces else ["cells"]
    if has_interfaces:
        return ["interfaces"]
    return ["all"]  # no session or interface is set up for it: it may do everything itself


class ExperimentInfo(BaseModel):
    """`[experiment]`: what the experiment is called and the task the agent is given."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Letters, digits, '-' and '_'; names outputs and runs.")
    description: str = Field(default="", description="One line for people.")
    task: str | None = Field(default=None, description="The agent's task prompt.")
    task_file: str | None = Field(default=None, description="A file holding the task prompt, relative to the config.")

    @field_validator("name")
    @classmethod
    def _simple_name(cls, value: str) -> str:
        if not _EXPERIMENT_NAME.fullmatch(value):
            raise ValueError(f"name {value!r} must be 1-64 letters, digits, '-' or '_', starting with a letter or digit")
        return value

    @model_validator(mode="after")
    def _one_task_source(self) -> ExperimentInfo:
        if self.task is not None and self.task_file is not None:
            raise ValueError("give task or task_file, not both")
        return self


class InterfaceConfig(BaseModel):
    """`[[interfaces]]`: an interface file served in the sandbox when the experiment starts."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="A Python identifier; prefixes the interface's MCP tools (<name>_<function>).")
    path: str = Field(description="The interface's host file, relative to the config.")
    expose_as: Literal["mcp", "library"] = Field(
        default="mcp", description="'mcp': each function is a tool; 'library': a client module in the session.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment for this interface's worker.")
    call_timeout: float | None = Field(default=None, gt=0, le=MAX_INTERFACE_CALL_TIMEOUT_S,
                                       description="Seconds one call may take.")

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        # It becomes a tool-name prefix and, for expose_as="library", a module name.
        if not value.isidentifier() or keyword.iskeyword(value):
            raise ValueError(f"name {value!r} is not a Python identifier")
        return value

    @field_validator("env")
    @classmethod
    def _env_keys_are_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_NAME.fullmatch(key):
                raise ValueError(f"env key {key!r} is not a valid environment variable name")
        return value


class SessionConfig(BaseModel):
    """`[session]`: a session made when the experiment starts, bound for the agent."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="notebook", description="Names the notebook (or a cli session's transcript).")
    kind: Literal["notebook", "cli"] = Field(default="notebook",
                                             description="'notebook': a Jupyter kernel; 'cli': a persistent shell.")

    @field_validator("name")
    @classmethod
    def _simple_name(cls, value: str) -> str:
        if not _SESSION_NAME.fullmatch(value):
            raise ValueError(f"name {value!r} must be 1-63 letters, digits, '_', '.' or '-', "
                             "starting with a letter or digit")
        return value


class AgentConfig(BaseModel):
    """`[agent]`: what the agent may use, and (for the harness) which agent runs."""

    model_config = ConfigDict(extra="forbid")

    tools: list[str] | None = Field(
        default=None, description="Tool names and groups; left out, the config's default (always a list once loaded).")
    provider: Literal["claude", "anthropic", "scripted"] = Field(
        default="claude", description="Harness: the agent's provider (scripted: a Python coroutine, no model).")
    model: str | None = Field(default=None, description="Harness: the model the agent runs on "
                              "(scripted: the coroutine, 'package.module:function').")
    allow_host_tools: bool = Field(default=False, description="Harness: the agent's own shell and file tools.")
    max_turns: int | None = Field(default=None, ge=1, description="Harness: turns before the run is stopped.")


class ExperimentConfig(BaseModel):
    """A whole experiment config. `load` it from a file; errors come as one `ConfigError`."""

    model_config = ConfigDict(extra="forbid")

    experiment: ExperimentInfo
    sandbox: SandboxSpec
    interfaces: list[InterfaceConfig] = Field(default_factory=list)
    session: SessionConfig | None = None
    agent: AgentConfig = Field(default_factory=AgentConfig)
    sweep: SweepConfig | None = Field(default=None, description="`seer-mcp sweep`: a grid of runs and its truth.")
    source_path: Path | None = Field(default=None, exclude=True, description="The file it was loaded from.")

    @classmethod
    def load(cls, path: str | Path) -> ExperimentConfig:
        """Read a TOML config, resolve its host paths against its folder, and check it whole."""
        source = str(path)
        file = Path(path).expanduser().resolve()
        if not file.exists():
            raise ConfigError(source, [f"no such config file ({file})"])
        if not file.is_file():
            raise ConfigError(source, [f"not a file ({file})"])
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(source, [f"not UTF-8 text (byte {exc.start}); TOML files are UTF-8"]) from None
        except OSError as exc:
            raise ConfigError(source, [f"cannot read it: {exc.strerror or exc}"]) from None
        if file.suffix == ".json":  # what a sweep writes for each run: the config resolved, paths absolute
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(source, [f"not JSON: {exc}"]) from None
            return cls.from_dict(data, base_dir=file.parent, source=source, source_path=file)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, [_toml_problem(str(exc))]) from None
        return cls.from_dict(data, base_dir=file.parent, source=source, source_path=file)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_dir: str | Path, source: str = "<config>",
                  source_path: Path | None = None) -> ExperimentConfig:
        """Validate already-parsed TOML; relative host paths start at `base_dir`. `source` prefixes errors."""
        problems: list[str] = []
        if "source_path" in data:  # set by load, never by the file
            problems.append(f"source_path: unknown key 'source_path'; known keys here: {_keys_of(cls)}")
            data = {key: value for key, value in data.items() if key != "source_path"}
        try:
            config = cls.model_validate(data, context={_BASE_DIR: Path(base_dir).expanduser().resolve()})
        except ValidationError as exc:
            problems += [problem for error in exc.errors() for problem in _describe(error)]
            raise ConfigError(source, problems) from None
        if problems:
            raise ConfigError(source, problems)
        config.source_path = source_path
        return config

    @property
    def task_prompt(self) -> str:
        """The task text, or the task file's contents, or '' for a config without a task."""
        if self.experiment.task is not None:
            return self.experiment.task
        if self.experiment.task_file is not None:
            return Path(self.experiment.task_file).read_text(encoding="utf-8")
        return ""

    def allowed_tools(self) -> set[str]:
        """Concrete tool names the agent may call, plus INTERFACE_TOOLS when interface tools are allowed."""
        return expand_tools(self.agent.tools or [])

    @model_validator(mode="after")
    def _resolve_and_check(self, info: ValidationInfo) -> ExperimentConfig:
        base_dir = (info.context or {}).get(_BASE_DIR) or Path.cwd()
        problems = self._resolve_paths(Path(base_dir))
        if self.agent.tools is None:
            self.agent = self.agent.model_copy()  # one passed in stays as it was
            self.agent.tools = default_tools(
                has_session=self.session is not None, has_interfaces=bool(self.interfaces),
                has_mcp_interfaces=any(i.expose_as == "mcp" for i in self.interfaces))
        problems += self._check_interfaces() + self._check_tools()
        if problems:
            # One error whose lines are each "dotted.path: problem"; _describe splits them again.
            raise ValueError("\n".join(problems))
        return self

    def _resolve_paths(self, base_dir: Path) -> list[str]:
        """Make every host path absolute (relative ones start at the config's folder) and check it exists."""
        problems: list[str] = []

        def resolve(value: str, where: str, kind: Literal["file", "folder", "any"]) -> str:
            path = (base_dir / Path(value).expanduser()).resolve()
            if not path.exists():
                problems.append(f"{where}: {value!r} does not exist (looked for {path})")
            elif kind == "file" and not path.is_file():
                problems.append(f"{where}: {value!r} is not a file ({path})")
            elif kind == "folder" and not path.is_dir():
                problems.append(f"{where}: {value!r} is not a folder ({path})")
            return str(path)

        # Copies, so that models passed in stay as they were.
        self.experiment = self.experiment.model_copy()
        self.sandbox = self.sandbox.model_copy(deep=True)
        self.interfaces = [interface.model_copy() for interface in self.interfaces]
        if self.experiment.task_file is not None:
            self.experiment.task_file = resolve(self.experiment.task_file, "experiment.task_file", "file")
        workspace = self.sandbox.workspace
        for index, library in enumerate(workspace.libraries):
            if library.path is not None:
                library.path = resolve(library.path, f"sandbox.workspace.libraries[{index}].path", "any")
        workspace.skill_dirs = [resolve(folder, f"sandbox.workspace.skill_dirs[{index}]", "folder")
                                for index, folder in enumerate(workspace.skill_dirs)]
        workspace.local_files = {resolve(host, f"sandbox.workspace.local_files[{host!r}]", "file"): target
                                 for host, target in workspace.local_files.items()}
        workspace.local_dirs = {resolve(host, f"sandbox.workspace.local_dirs[{host!r}]", "folder"): target
                                for host, target in workspace.local_dirs.items()}
        for index, interface in enumerate(self.interfaces):
            interface.path = resolve(interface.path, f"interfaces[{index}].path", "file")
        return problems

    def _check_interfaces(self) -> list[str]:
        problems: list[str] = []
        first_index: dict[str, int] = {}
        for index, interface in enumerate(self.interfaces):
            if interface.name in first_index:
                problems.append(f"interfaces[{index}].name: {interface.name!r} is already the name of "
                                f"interfaces[{first_index[interface.name]}]; interface names must be unique")
            first_index.setdefault(interface.name, index)
            if interface.expose_as == "library" and self.session is None:
                problems.append(f"interfaces[{index}].expose_as: 'library' writes the interface's client into the "
                                "session's workspace, so it needs a [session]; add one or use expose_as = 'mcp'")
        return problems

    def _check_tools(self) -> list[str]:
        problems: list[str] = []
        tools = self.agent.tools or []
        for index, entry in enumerate(tools):
            if entry not in KNOWN_TOOLS and entry not in TOOL_GROUPS:
                problems.append(f"agent.tools[{index}]: {_unknown_tool(entry)}")
        allowed = expand_tools(tools)
        cell_tools = set(TOOL_GROUPS["cells"])
        if self.session is None and "start_session" not in allowed and allowed & cell_tools:
            index = next(i for i, entry in enumerate(tools) if expand_tools([entry]) & cell_tools)
            problems.append(f"agent.tools[{index}]: {tools[index]!r} gives the agent notebook tools, but it would "
                            "have no session: the config has no [session] and the agent may not call start_session; "
                            "add a [session] or allow 'sessions'")
        return problems


class ConfigError(InvalidRequest):
    """Everything wrong with one config file, one problem a line, each line starting with the file."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


def _unknown_tool(entry: str) -> str:
    close = difflib.get_close_matches(entry, [*TOOL_GROUPS, *KNOWN_TOOLS], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"unknown tool {entry!r}{hint}; known: groups {', '.join(TOOL_GROUPS)}; "
            f"tools {', '.join(sorted(KNOWN_TOOLS))}")


def _toml_problem(message: str) -> str:
    match = _TOML_POSITION.match(message)
    if match is None:
        return f"invalid TOML: {message}"
    return f"line {match['line']}, column {match['column']}: invalid TOML: {match['message']}"


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier():
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def _describe(error: ErrorDetails) -> list[str]:
    """One pydantic error -> problem lines, each 'dotted.path: what is wrong'."""
    loc: tuple[int | str, ...] = tuple(error["loc"])
    path = _dotted(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _keys_of(_model_at(loc[:-1]))
        return [f"{path}: unknown key {loc[-1]!r}" + (f"; known keys here: {known}" if known else "")]
    if kind == "missing":
        return [f"{path}: required but missing"]
    context = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in context:
        message = str(context["error"])
        if not loc:  # ExperimentConfig's own checks: already "path: problem" lines
            return message.splitlines()
        # A nested model's own checks may name a key inside it ("grid.organism: ..."): one dotted path.
        return [f"{path}.{line}" if re.match(r"[A-Za-z_][\w.]*: ", line) else f"{path}: {line}"
                for line in message.splitlines()]
    shown = repr(error.get("input"))
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return [f"{path}: {error['msg']} (got {shown})"]


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class a location in the config lands in, to list the keys it takes."""
    current: Any = ExperimentConfig
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) is list and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X."""
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(members) == 1:
        return members[0]
    return annotation


def _keys_of(model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    return ", ".join(name for name, field in model.model_fields.items() if not field.exclude)
