"""Operator mode: `serve --experiment CONFIG` sets everything up and shows the agent only what it allows."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

from seer_mcp.experiments.config import ExperimentConfig
from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.conftest import PYTHON, REPO, fields_of, output_of, sandbox_processes, server_env, status_of, text_of
from tests.toolkit.conftest import build_tokenizer, tiny_llama

pytestmark = pytest.mark.slow

SECRET = "acme-SECRETMODEL-2b"


@pytest.fixture(scope="module")
def secret_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny chat model saved under a name that must never reach the agent."""
    path = tmp_path_factory.mktemp("models") / SECRET
    model = tiny_llama()
    model.config._name_or_path = str(path)
    model.save_pretrained(path)
    build_tokenizer().save_pretrained(path)
    return path


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(textwrap.dedent(body))
    return path


def scoped_config(tmp_path: Path, model: Path) -> Path:
    return write_config(tmp_path, f"""
        [experiment]
        name = "scoped"
        description = "Probe a model through model tools only."

        [sandbox]
        [[sandbox.models]]
        name = "{model}"
        hidden = true
        preload = false

        [[interfaces]]
        name = "model_tools"
        path = "{REPO / 'interfaces' / 'model_tools.py'}"
    """)


async def test_a_scoped_experiment_shows_only_its_interface(tmp_path: Path, settings: Settings,
                                                            secret_model: Path) -> None:
    config = ExperimentConfig.load(scoped_config(tmp_path, secret_model))
    async with Client(build_server(settings, experiment=config)) as client:
        tools = await client.list_tools()
        names = {tool.name for tool in tools}
        assert names == {"call_interface", "list_interfaces", "model_tools_model_info", "model_tools_generate",
                         "model_tools_get_activations", "model_tools_logit_lens", "model_tools_steered_generate"}
        instructions = client.instructions or ""
        assert "experiment 'scoped': Probe a model" in instructions
        assert "model_tools_generate: generate(" in instructions and "execute_code" not in instructions
        results = [await client.call_tool("model_tools_model_info", {}),
                   await client.call_tool("model_tools_generate", {"prompt": "the cat", "max_new_tokens": 3}),
                   await client.call_tool("list_interfaces", {})]
        assert results[0].structured_content is None
        assert status_of(results[0]) == "[model_tools.model_info · returned JSON]"
        info = json.loads(output_of(results[0]))
        assert info["name"] == "<hidden>"
        assert info["layers"] == 4
        with pytest.raises(ToolError, match="Unknown tool"):
            await client.call_tool("create_sandbox", {})
        seen = "\n".join([instructions, *(t.model_dump_json() for t in tools),
                          *(json.dumps(r.structured_content) + json.dumps(r.meta) + text_of(r) for r in results)])
        assert "SECRET" not in seen


async def test_a_notebook_experiment_binds_the_agent_to_its_session(tmp_path: Path, settings: Settings,
                                                                    secret_model: Path) -> None:
    (tmp_path / "calc.py").write_text("@expose\ndef double(x: int) -> int:\n    '''Twice x.'''\n    return 2 * x\n")
    config = ExperimentConfig.load(write_config(tmp_path, f"""
        [experiment]
        name = "hidden-notebook"
        task = "Find out what the model believes."

        [sandbox]
        [[sandbox.models]]
        name = "{secret_model}"
        hidden = true

        [[interfaces]]
        name = "calc"
        path = "calc.py"
        expose_as = "library"

        [session]
        name = "investigation"

        [agent]
        tools = ["cells"]
    """))
    async with Client(build_server(settings, experiment=config), mode="legacy") as client:
        names = {tool.name for tool in await client.list_tools()}
        assert names == {"execute_code", "edit_cell", "wait_cell", "add_markdown", "read_notebook",
                         "interrupt_kernel", "restart_kernel"}
        instructions = client.instructions or ""
        assert "<hidden>" in instructions and "4 layers" in instructions
        assert "`import calc`" in instructions and "calc.double(x: int) -> int -- Twice x." in instructions
        result = await client.call_tool("execute_code", {
            "code": "import calc\nprint(type(model).__name__, calc.double(21))"})
        assert output_of(result).strip() == "LlamaForCausalLM 42"
        notebook = await client.call_tool("read_notebook", {})
        assert "investigation" in fields_of(notebook)["notebook_path"]
        assert "SECRET" not in (instructions + text_of(result) + json.dumps(result.meta) + text_of(notebook)
                                + json.dumps(notebook.meta))
        sandbox_root = Path(settings.state_dir / "sandboxes")
        assert [p.name for p in sandbox_root.iterdir()]
    # The server stopped: the experiment's sandbox is gone with it.
    for sandbox_dir in sandbox_root.iterdir():
        assert not sandbox_processes(str(sandbox_dir))


async def test_a_failing_setup_leaves_nothing_running(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('no GPU here')\n")
    config = ExperimentConfig.load(write_config(tmp_path, """
        [experiment]
        name = "broken"
        [sandbox]
        [[interfaces]]
        name = "broken"
        path = "broken.py"
    """))
    with pytest.raises(Exception, match="no GPU here"):
        async with Client(build_server(settings, experiment=config)):
            pass
    for sandbox_dir in (settings.state_dir / "sandboxes").iterdir():
        assert not sandbox_processes(str(sandbox_dir))


async def test_serve_experiment_over_stdio(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "calc.py").write_text("@expose\ndef double(x: int) -> int:\n    return 2 * x\n")
    config = write_config(tmp_path, """
        [experiment]
        name = "stdio"
        [sandbox]
        [[interfaces]]
        name = "calc"
        path = "calc.py"
    """)
    transport = StdioTransport(PYTHON, ["-m", "seer_mcp", "serve", "--experiment", str(config)],
                               env=server_env(settings), cwd=str(tmp_path))
    async with Client(transport) as client:
        assert {tool.name for tool in await client.list_tools()} == {"calc_double", "call_interface",
                                                                     "list_interfaces"}
        doubled = await client.call_tool("calc_double", {"x": 4})
        assert doubled.structured_content is None
        assert text_of(doubled) == "8\n[calc.double · returned JSON]"


def test_a_bad_config_stops_serve_with_the_field_named(tmp_path: Path, settings: Settings) -> None:
    config = write_config(tmp_path, """
        [experiment]
        name = "bad"
        [sandbox]
        gpus = 2
    """)
    done = subprocess.run([PYTHON, "-m", "seer_mcp", "serve", "--experiment", str(config)], capture_output=True,
                          text=True, env=server_env(settings), timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert "sandbox.gpus" in done.stderr and "experiment.toml" in done.stderr
