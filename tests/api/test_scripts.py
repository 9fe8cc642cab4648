"""Scripts in the shape of Seer's experiments, ported by changing their imports, on both backends."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastmcp import Client
from peft import LoraConfig, get_peft_model

from seer_mcp import (
    ExecutionMode,
    Library,
    ModelConfig,
    Sandbox,
    SandboxConfig,
    ScopedSandbox,
    Skill,
    Workspace,
    create_cli_session,
    create_local_notebook_session,
    create_local_session,
    create_notebook_session,
)
from seer_mcp.api import Runtime
from seer_mcp.manager.state import StateStore
from tests.conftest import PYTHON, fields_of, output_of, sandbox_processes, status_of
from tests.toolkit.conftest import build_tokenizer, tiny_llama

pytestmark = pytest.mark.slow

SECRET = "acme-SECRETADAPTER"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("models")
    base_dir, adapter_dir = root / "base-llama", root / SECRET
    tiny_llama().save_pretrained(base_dir)
    build_tokenizer().save_pretrained(base_dir)
    adapter = get_peft_model(tiny_llama(), LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                      init_lora_weights=False))
    adapter.peft_config["default"].base_model_name_or_path = str(base_dir)
    adapter.save_pretrained(adapter_dir)
    return base_dir, adapter_dir


async def run_a_cell_through(mcp_config: dict, code: str) -> str:
    async with Client({"mcpServers": mcp_config}) as client:
        result = await client.call_tool("execute_code", {"code": code})
        assert result.structured_content is None and fields_of(result)["status"] == "ok"
        return output_of(result)


def test_sandbox_intro(runtime: Runtime, tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    base_dir, _ = tiny_models
    helper = tmp_path / "steering_hook.py"
    helper.write_text('"""Steering helpers."""\n\ndef scale(x: float, by: float = 2.0) -> float:\n'
                      '    """Multiply."""\n    return x * by\n')
    config = SandboxConfig(execution_mode=ExecutionMode.NOTEBOOK, models=[ModelConfig(name=str(base_dir))],
                           python_packages=["torch", "transformers"])
    sandbox = Sandbox(config).start()
    workspace = Workspace(libraries=[Library.from_file(helper)])
    session = create_notebook_session(sandbox, workspace)
    assert "4 layers" in session.model_info_text and "def scale(x: float, by: float=2.0)" in session.library_docs
    assert session.exec("import steering_hook\nprint(steering_hook.scale(21.0), type(model).__name__)").strip() \
        == "42.0 LlamaForCausalLM"
    # The session's MCP config drives the same notebook from a real MCP client.
    text = asyncio.run(run_a_cell_through(session.mcp_config, "print(steering_hook.scale(1.5))"))
    assert text.strip() == "3.0"
    assert [h.var_name for h in sandbox.model_handles] == ["model"]
    sandbox.terminate()
    assert sandbox.info["status"] == "terminated"


def test_scoped_sandbox_intro(runtime: Runtime, tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    base_dir, _ = tiny_models
    interface = tmp_path / "interface.py"
    interface.write_text(textwrap.dedent('''
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model_path = get_model_path("model")
        model = AutoModelForCausalLM.from_pretrained(model_path)
        tokenizer = AutoTokenizer.from_pretrained(model_path)

        @expose
        def get_embedding(text: str) -> dict:
            """The last layer's mean hidden state."""
            inputs = tokenizer(text, return_tensors="pt")
            with torch.no_grad():
                outputs = model(**inputs, output_hidden_states=True)
            return {"embedding": outputs.hidden_states[-1].mean(dim=1).squeeze().tolist()}
    '''))
    with ScopedSandbox(SandboxConfig(models=[ModelConfig(name=str(base_dir), preload=False)])).start() as scoped:
        model_tools = scoped.serve(str(interface), expose_as="library", name="model_tools")
        session = create_local_session(Workspace(libraries=[model_tools]), tmp_path / "agent-workspace")
        output = session.exec("import model_tools\nprint(len(model_tools.get_embedding('hello')['embedding']))")
        assert output.strip() == "64"
        mcp_config = scoped.serve(str(interface), expose_as="mcp", name="probe")

        async def call() -> dict:
            async with Client({"mcpServers": mcp_config}) as client:
                names = {tool.name for tool in await client.list_tools()}
                assert names == {"probe_get_embedding", "call_interface", "list_interfaces"}
                result = await client.call_tool("probe_get_embedding", {"text": "hi"})
                assert result.structured_content is None
                assert status_of(result) == "[probe.get_embedding · returned JSON]"
                return json.loads(output_of(result))

        assert len(asyncio.run(call())["embedding"]) == 64
    assert scoped.info["status"] == "terminated"


def test_hidden_preference(runtime: Runtime, tiny_models: tuple[Path, Path]) -> None:
    base_dir, adapter_dir = tiny_models
    config = SandboxConfig(execution_mode=ExecutionMode.NOTEBOOK, models=[ModelConfig(
        name=str(adapter_dir), base_model=str(base_dir), is_peft=True, hidden=True)])
    sandbox = Sandbox(config).start()
    steering_hook = '"""Steering, as Seer\'s toolkit file."""\nfrom toolkit import steer as create_steering_hook\n'
    workspace = Workspace(libraries=[Library.from_code("steering_hook", steering_hook)],
                          custom_init_code="probe_ready = True")
    session = create_notebook_session(sandbox, workspace)
    assert "<hidden>" in session.model_info_text and "SECRET" not in session.model_info_text
    out = session.exec("print(probe_ready, type(model).__name__, 'SECRET' in repr(model.peft_config), "
                       "callable(steering_hook.create_steering_hook))")
    assert out.strip() == "True PeftModel False True"
    sandbox.terminate()


def test_local_notebook(local_runtime: Runtime, tmp_path: Path) -> None:
    session = create_local_notebook_session(Workspace(custom_init_code="greeting = 'hello'"), name="local-nb",
                                            output_dir=tmp_path / "my-outputs")
    assert session.exec("print(greeting)").strip() == "hello"
    notebook = Path(session.notebook_file)
    assert notebook.parent == tmp_path / "my-outputs"
    cells = json.loads(notebook.read_text())["cells"]
    assert cells[-1]["source"] == "print(greeting)"
    session.terminate()
    assert session.sandbox.info["status"] == "terminated"


def test_cli_session_and_snapshots(local_runtime: Runtime) -> None:
    sandbox = Sandbox(SandboxConfig(execution_mode=ExecutionMode.CLI)).start()
    sandbox.ensure_dir("/workspace/results")
    sandbox.write_file("results/score.txt", "0.93")
    cli = create_cli_session(sandbox, name="shell")
    assert cli.exec_shell("cd results && cat score.txt").strip() == "0.93"
    assert cli.exec_shell("pwd").strip().endswith("/results")
    assert cli.exec("print(6 * 7)").strip() == "42"
    assert asyncio.run(run_a_cell_through(cli.mcp_config, "cat score.txt")).strip() == "0.93"  # same shell, same cwd
    snapshot = sandbox.snapshot("after scoring")
    restored = Sandbox.from_snapshot(snapshot, sandbox.config).start()
    assert restored.exec("cat results/score.txt").strip() == "0.93"
    assert restored.sandbox_id != sandbox.sandbox_id


def test_workspace_docs_and_skills(tmp_path: Path) -> None:
    def extract_activation(text: str, layer: int = 3) -> list[float]:
        """Residual activations of the last token at a layer."""
        return []

    skill = Skill.from_function(extract_activation)
    assert (Path(skill.path) / "SKILL.md").read_text().startswith("---\nname: extract_activation")
    workspace = Workspace(libraries=[Library.from_code("probes", '"""Linear probes."""\ndef fit(x): ...\n')],
                          skills=[skill])
    docs = workspace.get_library_docs()
    assert "Linear probes." in docs and "extract_activation" in docs
    assert Library.from_code("probes", "def fit(x): ...\n").get_prompt_docs().startswith("### `probes`")


async def test_async_scripts_can_await_or_call_plainly(local_runtime: Runtime) -> None:
    sandbox = await Sandbox(SandboxConfig()).astart()
    assert (await sandbox.aexec("echo async")).strip() == "async"
    plain = Sandbox(SandboxConfig()).start()  # blocks this loop while it starts, as a Seer script does
    awaited = await Sandbox(SandboxConfig()).start()
    assert len({sandbox.sandbox_id, plain.sandbox_id, awaited.sandbox_id}) == 3
    async with Sandbox(SandboxConfig()) as scoped:
        assert (await scoped.aexec_python("print(2 ** 5)")).strip() == "32"
    assert scoped.info["status"] == "terminated"


def test_nothing_is_left_running_after_a_script_exits(tmp_path: Path) -> None:
    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent("""
        from seer_mcp import Sandbox, SandboxConfig, create_notebook_session
        sandbox = Sandbox(SandboxConfig()).start()
        session = create_notebook_session(sandbox)
        print(sandbox.sandbox_id, sandbox.workspace_path, flush=True)
        session.exec("x = 1")
        # no terminate(): the runtime cleans up at exit
    """))
    env = {**os.environ, "SEER_STATE_DIR": str(tmp_path / "state"), "SEER_OUTPUTS_DIR": str(tmp_path / "out")}
    done = subprocess.run([PYTHON, str(script)], capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    sandbox_id, workspace = done.stdout.split()
    assert not sandbox_processes(str(Path(workspace).parent))
    store = StateStore(tmp_path / "state" / "state.sqlite")
    assert store.sandbox(sandbox_id).status == "terminated"
    store.close()


def test_the_public_api_is_curated() -> None:
    import seer_mcp
    import seer_mcp.api

    assert sorted(seer_mcp.api.__all__) == sorted(n for n in seer_mcp.__all__ if n != "__version__")
    for name in seer_mcp.api.__all__:
        assert getattr(seer_mcp, name) is getattr(seer_mcp.api, name)
    # The agent and interface files import seer_mcp without paying for the API.
    code = "import sys, seer_mcp, seer_mcp.interface; print('seer_mcp.api' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_the_readme_example_runs(local_runtime: Runtime, tiny_models: tuple[Path, Path], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    base_dir, _ = tiny_models
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("# main.py\n", 1)[1].split("```", 1)[0]
    exec(compile(example.replace('"google/gemma-2-2b-it"', repr(str(base_dir))), "README main.py", "exec"), {})
    printed = capsys.readouterr().out
    assert "4 layers" in printed and "hi 4" in printed and "'type': 'http'" in printed
