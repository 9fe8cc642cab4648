"""Experiment configs: loading, path resolution, default tools, and errors that name the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from seer_mcp.experiments.config import (
    INTERFACE_TOOLS,
    KNOWN_TOOLS,
    TOOL_GROUPS,
    ConfigError,
    ExperimentConfig,
)
from seer_mcp.errors import InvalidRequest

DATA = Path(__file__).parent / "data" / "configs"
FULL = DATA / "experiments" / "full.toml"
ASSETS = (DATA / "assets").resolve()

MINIMAL = '[experiment]\nname = "x"\n[sandbox]\n'


def write(folder: Path, text: str, name: str = "x.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        ExperimentConfig.load(path)
    message = str(caught.value)
    assert all(line.startswith(f"{path}: ") for line in message.splitlines()), message
    return caught.value.problems


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "interfaces").mkdir()
    (tmp_path / "interfaces" / "tools.py").write_text("")
    return tmp_path


# --- a valid config


def test_full_config_loads_and_resolves_relative_paths() -> None:
    config = ExperimentConfig.load(FULL)
    assert config.source_path == FULL.resolve()
    assert config.experiment.name == "hidden-preference"
    assert config.experiment.task_file == str(ASSETS / "task.md")
    assert config.task_prompt == "Find the hidden preference.\n"
    sandbox = config.sandbox
    assert (sandbox.backend, sandbox.gpu, sandbox.gpu_count, sandbox.env) == ("local", "A100", 2, {"SEED": "0"})
    assert [m.var_name for m in sandbox.models] == ["model", "tuned"]
    assert sandbox.models[0].hidden and sandbox.models[1].base_model == "google/gemma-2-9b-it"
    workspace = sandbox.workspace
    assert workspace.libraries[0].path == str(ASSETS / "probe.py")
    assert workspace.libraries[1].path is None and workspace.libraries[1].code == "SEED = 0"
    assert workspace.skill_dirs == [str(ASSETS / "skills" / "probing")]
    assert workspace.local_files == {str(ASSETS / "data" / "prompts.txt"): "data/prompts.txt"}
    assert workspace.local_dirs == {str(ASSETS / "data" / "corpus"): "data/corpus"}
    assert [(i.name, i.expose_as, i.path) for i in config.interfaces] == [
        ("model_tools", "mcp", str(ASSETS / "model_tools.py")), ("judge", "library", str(ASSETS / "model_tools.py"))]
    assert config.interfaces[0].env == {"INTERFACE_MODEL": "model"} and config.interfaces[0].call_timeout == 300
    assert config.session is not None and (config.session.name, config.session.kind) == ("notebook", "notebook")
    agent = config.agent
    assert (agent.provider, agent.model, agent.allow_host_tools, agent.max_turns) == (
        "anthropic", "claude-sonnet-4-5", True, 50)
    assert "source_path" not in config.model_dump()


def test_config_path_relative_to_another_working_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(DATA)
    config = ExperimentConfig.load("experiments/full.toml")
    monkeypatch.chdir(tmp_path)  # paths were made absolute at load: moving elsewhere changes nothing
    assert config.source_path == FULL.resolve()
    assert config.sandbox.workspace.libraries[0].path == str(ASSETS / "probe.py")
    assert config.task_prompt == "Find the hidden preference.\n"


def test_minimal_config_has_defaults(tmp_path: Path) -> None:
    config = ExperimentConfig.load(write(tmp_path, MINIMAL))
    assert config.sandbox.backend == "local" and config.interfaces == [] and config.session is None
    assert config.task_prompt == ""
    assert config.agent.provider == "claude" and config.agent.allow_host_tools is False


def test_task_inline(tmp_path: Path) -> None:
    config = ExperimentConfig.load(write(tmp_path, '[experiment]\nname = "x"\ntask = """Do it."""\n[sandbox]\n'))
    assert config.task_prompt == "Do it."


def test_task_and_task_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "task.md").write_text("t")
    path = write(tmp_path, '[experiment]\nname = "x"\ntask = "a"\ntask_file = "task.md"\n[sandbox]\n')
    assert problems_of(path) == ["experiment: give task or task_file, not both"]


def test_missing_task_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[experiment]\nname = "x"\ntask_file = "prompts/t.md"\n[sandbox]\n')
    [problem] = problems_of(path)
    assert problem.startswith("experiment.task_file: 'prompts/t.md' does not exist")
    assert str(tmp_path / "prompts" / "t.md") in problem


# --- errors that name the field


@pytest.mark.parametrize(("body", "expected"), [
    ('[experiment]\nname = "has space"\n[sandbox]\n', "experiment.name: name 'has space' must be"),
    ('[experiment]\n[sandbox]\n', "experiment.name: required but missing"),
    ('[experiment]\nname = "x"\n', "sandbox: required but missing"),
    (MINIMAL + '[[sandbox.models]]\nname = "a/b"\nis_peft = true\n',
     "sandbox.models[0]: is_peft=True needs base_model"),
    (MINIMAL + 'gpu_count = "two"\n', "sandbox.gpu_count: Input should be a valid integer"),
    (MINIMAL + '[session]\nkind = "repl"\n', "session.kind: Input should be 'notebook' or 'cli'"),
    (MINIMAL + '[agent]\nprovider = "openai"\n', "agent.provider: Input should be 'claude', 'anthropic' or 'scripted'"),
    (MINIMAL + '[agent]\ntools = "cells"\n', "agent.tools: Input should be a valid list"),
])
def test_invalid_values_name_the_field(tmp_path: Path, body: str, expected: str) -> None:
    [problem] = problems_of(write(tmp_path, body))
    assert problem.startswith(expected), problem


@pytest.mark.parametrize(("body", "field", "key"), [
    ('[experiment]\nname = "x"\n[sandbox]\n[extras]\n', "extras", "extras"),
    ('[experiment]\nname = "x"\ntitle = "t"\n[sandbox]\n', "experiment.title", "title"),
    (MINIMAL + 'gpus = 2\n', "sandbox.gpus", "gpus"),
    (MINIMAL + '[[sandbox.models]]\nname = "a/b"\nhiden = true\n', "sandbox.models[0].hiden", "hiden"),
    (MINIMAL + '[sandbox.workspace]\nlibraries = [{ pth = "a.py" }]\n', "sandbox.workspace.libraries[0].pth", "pth"),
    (MINIMAL + '[[interfaces]]\nname = "t"\npath = "interfaces/tools.py"\nexpose = "mcp"\n',
     "interfaces[0].expose", "expose"),
    (MINIMAL + '[session]\nnotebook = "n"\n', "session.notebook", "notebook"),
    (MINIMAL + '[agent]\nturns = 3\n', "agent.turns", "turns"),
    ('source_path = "/etc"\n' + MINIMAL, "source_path", "source_path"),
])
def test_unknown_keys_are_refused_at_every_level(folder: Path, body: str, field: str, key: str) -> None:
    [problem] = problems_of(write(folder, body))
    assert problem.startswith(f"{field}: unknown key {key!r}; known keys here: "), problem


def test_unknown_key_lists_the_keys_it_could_be(tmp_path: Path) -> None:
    [problem] = problems_of(write(tmp_path, MINIMAL + '[[sandbox.models]]\nname = "a/b"\nhiden = true\n'))
    assert "hidden" in problem and "var_name" in problem


def test_unknown_tool_lists_the_known_ones(tmp_path: Path) -> None:
    [problem] = problems_of(write(tmp_path, MINIMAL + '[agent]\ntools = ["all", "execute"]\n'))
    assert problem.startswith("agent.tools[1]: unknown tool 'execute' (did you mean 'execute_code'?); known: ")
    assert all(name in problem for name in [*TOOL_GROUPS, *KNOWN_TOOLS])


def test_cells_without_a_session_is_refused(tmp_path: Path) -> None:
    [problem] = problems_of(write(tmp_path, MINIMAL + '[agent]\ntools = ["files", "cells"]\n'))
    assert problem.startswith("agent.tools[1]: 'cells' gives the agent notebook tools, but it would have no session")
    # Allowed to start sessions itself, or given one, the agent can use cells.
    ExperimentConfig.load(write(tmp_path, MINIMAL + '[agent]\ntools = ["sessions", "execute_code"]\n'))
    ExperimentConfig.load(write(tmp_path, MINIMAL + '[session]\n[agent]\ntools = ["cells"]\n'))


def test_library_interface_needs_a_session(folder: Path) -> None:
    body = MINIMAL + '[[interfaces]]\nname = "t"\npath = "interfaces/tools.py"\nexpose_as = "library"\n'
    [problem] = problems_of(write(folder, body))
    assert problem.startswith("interfaces[0].expose_as: 'library' writes the interface's client into the session")
    ExperimentConfig.load(write(folder, body + "[session]\n"))


def test_interface_names_are_unique_identifiers(folder: Path) -> None:
    interface = '[[interfaces]]\nname = "{}"\npath = "interfaces/tools.py"\n'
    problems = problems_of(write(folder, MINIMAL + interface.format("t") + interface.format("t")))
    assert problems == ["interfaces[1].name: 't' is already the name of interfaces[0]; interface names must be unique"]
    [problem] = problems_of(write(folder, MINIMAL + interface.format("model-tools")))
    assert problem == "interfaces[0].name: name 'model-tools' is not a Python identifier"


def test_missing_host_paths_are_named(tmp_path: Path) -> None:
    (tmp_path / "a_file.txt").write_text("")
    body = MINIMAL + textwrap.dedent("""\
        [sandbox.workspace]
        libraries = [{ path = "gone.py" }]
        skill_dirs = ["a_file.txt"]
        local_files = { "missing.txt" = "m.txt" }
        local_dirs = { "a_file.txt" = "d" }
        [[interfaces]]
        name = "t"
        path = "interfaces/nope.py"
        """)
    problems = problems_of(write(tmp_path, body))
    assert [p.split(": ")[0] for p in problems] == [
        "sandbox.workspace.libraries[0].path", "sandbox.workspace.skill_dirs[0]",
        "sandbox.workspace.local_files['missing.txt']", "sandbox.workspace.local_dirs['a_file.txt']",
        "interfaces[0].path"]
    assert "'gone.py' does not exist" in problems[0] and "'a_file.txt' is not a folder" in problems[1]


def test_several_problems_are_all_listed_one_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '[[interfaces]]\nname = "t"\npath = "nope.py"\n[agent]\ntools = ["exec"]\n')
    with pytest.raises(ConfigError) as caught:
        ExperimentConfig.load(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}: interfaces[0].path: 'nope.py' does not exist")
    assert lines[1].startswith(f"{path}: agent.tools[0]: unknown tool 'exec'")


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[experiment]\nname = "x"\n[sandbox]\nbackend = local\n')
    [problem] = problems_of(path)
    assert problem.startswith("line 4, column 11: invalid TOML: "), problem


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        ExperimentConfig.load("configs/nowhere.toml")
    assert str(caught.value).startswith("configs/nowhere.toml: no such config file")
    assert isinstance(caught.value, InvalidRequest)


# --- tools


@pytest.mark.parametrize(("sections", "expected"), [
    ("", ["all"]),
    ('[[interfaces]]\nname = "t"\npath = "interfaces/tools.py"\n', ["interfaces"]),
    ("[session]\n", ["cells"]),
    ('[session]\n[[interfaces]]\nname = "t"\npath = "interfaces/tools.py"\n', ["cells", "interfaces"]),
    ('[session]\n[[interfaces]]\nname = "t"\npath = "interfaces/tools.py"\nexpose_as = "library"\n', ["cells"]),
    ("[session]\n[agent]\nmodel = 'm'\n", ["cells"]),
])
def test_default_tools(folder: Path, sections: str, expected: list[str]) -> None:
    assert ExperimentConfig.load(write(folder, MINIMAL + sections)).agent.tools == expected


def test_allowed_tools_expands_groups(tmp_path: Path) -> None:
    config = ExperimentConfig.load(write(tmp_path, MINIMAL + '[session]\n[agent]\ntools = ["cells", "read_file"]\n'))
    assert config.allowed_tools() == {"execute_code", "edit_cell", "wait_cell", "add_markdown", "read_notebook",
                                      "interrupt_kernel", "restart_kernel", "read_file"}
    assert "create_sandbox" not in config.allowed_tools()


def test_interfaces_group_keeps_the_run_time_marker(folder: Path) -> None:
    body = MINIMAL + '[[interfaces]]\nname = "t"\npath = "interfaces/tools.py"\n'
    assert ExperimentConfig.load(write(folder, body)).allowed_tools() == {
        "call_interface", "list_interfaces", INTERFACE_TOOLS}


def test_all_is_every_known_tool(tmp_path: Path) -> None:
    config = ExperimentConfig.load(write(tmp_path, MINIMAL))
    assert config.allowed_tools() == KNOWN_TOOLS | {INTERFACE_TOOLS}
