"""The rest of Seer's documentation's snippets (/work/shared/reference/seer-docs.txt): Environment → Models, the
API Reference's one-liners and properties, and Harness → Interactive mode, ported by changing imports.

As in test_examples.py (whose helpers these tests use): the local backend, tiny Llamas under Seer's real model ids
in an offline Hugging Face cache (conftest.py), with the Models snippet's two ids added to it here; what the docs
leave as `...` is filled minimally, and an agent is Claude Code on a scripted fake Messages API.
"""

from __future__ import annotations

import ast
import asyncio
import io
import json
import re
import runpy
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import LlamaForCausalLM

from seer_mcp import CLISession, LocalNotebookSession, NotebookSession, SessionError
from seer_mcp.api import Runtime
from seer_mcp.harness import run_agent
from tests.harness.conftest import FakeMessagesAPI, message, result_text, text, tool_use
from tests.harness.test_claude_cli import _cli_runs
from tests.toolkit.conftest import build_tokenizer

from .conftest import BASE_MODELS, HIDDEN, LAYERS, snapshot_dir, tiny_deep_llama
from .test_examples import IMPORTS, SKILL_MD, call_tool, run_a_cell, run_doc, write

pytestmark = pytest.mark.slow

needs_claude_cli = pytest.mark.skipif(not _cli_runs(), reason="claude-agent-sdk has no runnable bundled claude CLI")

LLAMA_2 = "meta-llama/Llama-2-7b"
MY_ADAPTER = "my-org/my-adapter"


@pytest.fixture(scope="module")
def hub_cache(hub_cache: Path) -> Path:
    """conftest's cache, plus the Models snippet's ids: a tiny base under Llama-2-7b, a LoRA adapter for it."""
    seed = len(BASE_MODELS)  # a base of its own, unlike any of conftest's
    base = tiny_deep_llama(seed)
    base.config._name_or_path = LLAMA_2
    base.save_pretrained(snapshot_dir(hub_cache, LLAMA_2))
    build_tokenizer().save_pretrained(snapshot_dir(hub_cache, LLAMA_2))
    adapter = get_peft_model(tiny_deep_llama(seed),
                             LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter.peft_config["default"].base_model_name_or_path = LLAMA_2
    adapter.save_pretrained(snapshot_dir(hub_cache, MY_ADAPTER))
    return hub_cache


PROBE_IDS = [[1, 5, 6, 7, 8]]


def logits_sum(model: Any) -> float:
    with torch.no_grad():
        return float(model(torch.tensor(PROBE_IDS)).logits.sum())


def kernel_logits_sum(var: str) -> str:
    """Kernel code printing what `logits_sum` computes here, for the kernel's variable `var`."""
    return f"print(float({var}(_torch.tensor({PROBE_IDS})).logits.sum()))"


def fetch(url: str, timeout: float = 10) -> bytes:
    """A GET on 127.0.0.1, past any proxy of the environment."""
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=timeout) as response:
        return response.read()


def wait_for(url: str, seconds: float = 90) -> bytes:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fetch(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def sandbox_with_model(seer_runtime: Runtime) -> Iterator[Any]:
    """Core Concepts' sandbox (google/gemma-2-9b), without its gpu line."""
    ns: dict[str, Any] = {}
    run_doc(IMPORTS + 'sandbox = Sandbox(SandboxConfig(models=[ModelConfig(name="google/gemma-2-9b")])).start()\n', ns)
    yield ns["sandbox"]
    ns["sandbox"].terminate()


# ---- Environment → Models ----

# The snippet's `models=[...]` argument, in the SandboxConfig it is an argument of.
ENV_MODELS = IMPORTS + '''
config = SandboxConfig(
    models=[
        ModelConfig(name="google/gemma-2-9b"),
        ModelConfig(name="my-org/my-adapter", is_peft=True, base_model="meta-llama/Llama-2-7b"),
    ],
)
'''

# The same, the adapter given a var_name of its own (the ModelConfig table's field).
ENV_MODELS_NAMED = ENV_MODELS.replace('base_model="meta-llama/Llama-2-7b")',
                                      'base_model="meta-llama/Llama-2-7b", var_name="adapter")')


def test_environment_models_both_named_model_is_refused(seer_runtime: Runtime) -> None:
    # The snippet verbatim gives both models the default var_name "model". Seer loaded them one after the other
    # into that one variable (the adapter replaced the base model); seer-mcp refuses the config instead, as the
    # README's "Porting from Seer" says.
    refusal = "models need distinct var_name values, got ['model', 'model']: give each model its own"
    with pytest.raises(ValueError, match=re.escape(refusal)):
        run_doc(ENV_MODELS, {})
    assert seer_runtime.manager.list_sandboxes() == []


def test_environment_models_base_model_is_required_with_is_peft() -> None:
    # "base_model: Base model ID (required if is_peft=True)"
    ns: dict[str, Any] = {}
    run_doc(IMPORTS, ns)
    with pytest.raises(ValueError, match=r"is_peft=True needs base_model"):
        ns["ModelConfig"](name=MY_ADAPTER, is_peft=True)


def test_environment_models_a_model_and_a_peft_adapter_on_another_base(seer_runtime: Runtime,
                                                                        hub_cache: Path) -> None:
    ns: dict[str, Any] = {}
    run_doc(ENV_MODELS_NAMED, ns)
    run_doc("sandbox = Sandbox(config).start()\nsession = create_notebook_session(sandbox, Workspace())\n", ns)
    sandbox, session = ns["sandbox"], ns["session"]
    try:
        # Downloaded (here: from the offline cache) and handed over as model handles
        handles = [(h.var_name, h.name, h.is_peft, h.hidden) for h in sandbox.model_handles]
        assert handles == [("model", "google/gemma-2-9b", False, False), ("adapter", MY_ADAPTER, True, False)]
        peft_handle = sandbox.model_handles[1]
        assert Path(peft_handle.path, "adapter_config.json").is_file()
        assert peft_handle.base_path is not None and Path(peft_handle.base_path, "config.json").is_file()
        assert Path(peft_handle.base_path, "model.safetensors").read_bytes() == \
            (snapshot_dir(hub_cache, LLAMA_2) / "model.safetensors").read_bytes()

        # "var_name: Variable name in model info": the kernel's variables, and what the agent is told of them
        info = session.model_info_text.splitlines()
        assert info[0] == "Preloaded models:"
        assert info[1].startswith("- `model` (causal LM, tokenizer `tokenizer`): google/gemma-2-9b; "
                                  f"{LAYERS} layers, hidden size {HIDDEN}")
        assert info[2].startswith("- `adapter` (PEFT adapter on its base, tokenizer `adapter_tokenizer`): "
                                  f"{MY_ADAPTER}; {LAYERS} layers, hidden size {HIDDEN}")

        # Both loaded: `model` is gemma-2-9b; `adapter` is the LoRA adapter on Llama-2-7b, not on gemma-2-9b.
        gemma = LlamaForCausalLM.from_pretrained(snapshot_dir(hub_cache, "google/gemma-2-9b")).eval()
        llama = LlamaForCausalLM.from_pretrained(snapshot_dir(hub_cache, LLAMA_2)).eval()
        expected_base = logits_sum(llama)
        expected_adapter = logits_sum(PeftModel.from_pretrained(llama, snapshot_dir(hub_cache, MY_ADAPTER)).eval())
        out = session.exec("import torch as _torch\n"
                           "print(type(model).__name__, type(adapter).__name__,"
                           " type(adapter.get_base_model()).__name__,"
                           " adapter.peft_config['default'].base_model_name_or_path)\n"
                           "with _torch.no_grad():\n"
                           f"    {kernel_logits_sum('model')}\n"
                           f"    {kernel_logits_sum('adapter')}\n"
                           "    with adapter.disable_adapter():\n"
                           f"        {kernel_logits_sum('adapter')}\n"
                           "print(adapter_tokenizer.decode(adapter_tokenizer('the cat')['input_ids']))")
        kinds, on_model, on_adapter, on_base, decoded = out.strip().split("\n")
        assert kinds.split() == ["LlamaForCausalLM", "PeftModel", "LlamaForCausalLM", LLAMA_2]
        assert float(on_model) == pytest.approx(logits_sum(gemma), rel=1e-5)
        assert float(on_adapter) == pytest.approx(expected_adapter, rel=1e-5)
        assert float(on_base) == pytest.approx(expected_base, rel=1e-5)
        assert abs(expected_adapter - expected_base) > 1e-3  # the LoRA weights change what the model computes
        assert decoded == "<bos> the cat"
    finally:
        sandbox.terminate()


# ---- API Reference: Workspace API ----

HELPERS = '"""Helpers for the agent."""\n\n\ndef hello(name: str) -> str:\n    """Greets `name`.\n\n    At length.\n' \
          '    """\n    return f"hello {name}"\n'

LIBRARY_API = IMPORTS + '''
# From local file
lib = Library.from_file("helpers.py")
# From code string
lib = Library.from_code("utils", "def foo(): ...")
# From skill directory
lib = Library.from_skill_dir("skills/steering")
'''


def each_lib(code: str, ns: dict[str, Any]) -> list[Any]:
    """Runs the snippet a `# From ...` part at a time; the `lib` each part makes."""
    made = []
    for part in re.split(r"\n(?=# From )", code):
        run_doc(part, ns)
        if "lib" in ns:
            made.append(ns.pop("lib"))
    return made


def test_library_constructors_and_their_docs(sandbox_with_model: Any, experiment_dir: Path) -> None:
    write(experiment_dir, "helpers.py", HELPERS)
    write(experiment_dir, "skills/steering/SKILL.md", SKILL_MD.format(name="steering"))
    write(experiment_dir, "skills/steering/__init__.py", '"""Steering vectors."""\nSTRENGTH = 2.0\n')
    ns: dict[str, Any] = {}
    from_file, from_code, from_skill_dir = each_lib(LIBRARY_API, ns)
    assert [lib.name for lib in (from_file, from_code, from_skill_dir)] == ["helpers", "utils", "steering"]

    # get_prompt_docs(): "documentation for agent"
    assert from_file.get_prompt_docs() == ("### `helpers`\nHelpers for the agent.\n"
                                           "- `def hello(name: str) -> str`: Greets `name`.")
    assert from_code.get_prompt_docs() == "### `utils`\n- `def foo()`"
    assert from_skill_dir.get_prompt_docs() == ("### `steering`\nSteering vectors.\n\n"
                                                + SKILL_MD.format(name="steering").strip())
    # get_library_docs(): "combined docs for all libraries (for agent prompt)"
    run_doc("workspace = Workspace(libraries=[Library.from_file('helpers.py'), "
            "Library.from_code('utils', 'def foo(): ...'), Library.from_skill_dir('skills/steering')])", ns)
    workspace = ns["workspace"]
    assert workspace.get_library_docs() == "\n\n".join(
        lib.get_prompt_docs() for lib in (from_file, from_code, from_skill_dir))

    # The agent imports each, and is shown the same docs.
    session = ns["create_notebook_session"](sandbox_with_model, workspace)
    assert session.library_docs == workspace.get_library_docs()
    out = session.exec("from utils import foo\nfrom helpers import hello\nimport steering\n"
                       "print(foo(), hello('agent'), steering.STRENGTH)")
    assert out.strip() == "None hello agent 2.0"


SKILL_FROM_DIR = '''
from seer_mcp import Skill

# From directory with SKILL.md
skill = Skill.from_dir("skills/steering")
'''

# A script of its own (main.py): Skill.from_function reads the function's source from its file. The doc shows no
# import of `expose`; seer-mcp's is seer_mcp.interface's. `extract_activation(...)`'s body is filled minimally.
SKILL_FROM_FUNCTION = '''
from seer_mcp import Skill
from seer_mcp.interface import expose

# From function with @expose decorator
@expose
def extract_activation(model, tokenizer, text, layer_idx):
    """The mean hidden state of `text` after decoder layer `layer_idx`."""
    import torch

    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        hidden_states = model(**inputs, output_hidden_states=True).hidden_states
    return hidden_states[layer_idx + 1][0].mean(dim=0)

skill = Skill.from_function(extract_activation)
'''


def make_skills(experiment_dir: Path) -> tuple[Any, Any]:
    write(experiment_dir, "skills/steering/SKILL.md", SKILL_MD.format(name="steering"))
    ns: dict[str, Any] = {}
    run_doc(SKILL_FROM_DIR, ns)
    made = runpy.run_path(str(write(experiment_dir, "main.py", SKILL_FROM_FUNCTION)), run_name="__main__")
    return ns["skill"], made["skill"]


def test_skills_from_dir_and_from_function_in_a_notebook(sandbox_with_model: Any, experiment_dir: Path) -> None:
    from_dir, from_function = make_skills(experiment_dir)
    assert Path(from_dir.path) == experiment_dir / "skills" / "steering"
    folder = Path(from_function.path)
    assert folder.name == "extract_activation"
    source = (folder / "extract_activation.py").read_text()
    assert source.startswith("def extract_activation(model, tokenizer, text, layer_idx):") and "@expose" not in source
    assert "The mean hidden state of `text` after decoder layer `layer_idx`." in (folder / "SKILL.md").read_text()

    from seer_mcp import Workspace, create_notebook_session

    session = create_notebook_session(sandbox_with_model, Workspace(skills=[from_dir, from_function]))
    # The notebook's agent is told of both (its MCP instructions carry the library docs) ...
    assert session.library_docs.splitlines() == [
        "Skills (read their SKILL.md before use):",
        "- steering (skills/steering/SKILL.md): How to do steering here.",
        "- extract_activation (skills/extract_activation/SKILL.md): "
        "The mean hidden state of `text` after decoder layer `layer_idx`."]
    # ... and finds them in its workspace, the function's code runnable there.
    out = session.exec("import sys\nsys.path.insert(0, 'skills/extract_activation')\n"
                       "from extract_activation import extract_activation\n"
                       "print(open('skills/steering/SKILL.md').read().splitlines()[-1], "
                       "tuple(extract_activation(model, tokenizer, 'the cat', 15).shape))")
    assert out.strip() == f"Steps. ({HIDDEN},)"


@needs_claude_cli
def test_skills_are_in_a_local_session_agents_skill_list(seer_runtime: Runtime, experiment_dir: Path,
                                                         claude_cli: FakeMessagesAPI) -> None:
    # "Skills are discovered by Claude Code and shown in agent's skill list": a local session's agent is Claude Code.
    from_dir, from_function = make_skills(experiment_dir)
    from seer_mcp import Workspace, create_local_session

    session = create_local_session(Workspace(skills=[from_dir, from_function]), experiment_dir / "agent-workspace")
    claude_cli.script = [message(text("I see the skills."))]

    async def agent() -> list[Any]:
        return [m async for m in run_agent("Use your skills.", mcp_config={})]

    try:
        assert asyncio.run(agent())[-1].content == "I see the skills."
    finally:
        session.terminate()
    sent = json.dumps(claude_cli.requests[0])
    assert "How to do steering here." in sent
    assert "The mean hidden state of `text` after decoder layer `layer_idx`." in sent
    for found in ("skills", ".claude/skills"):  # where the library docs say; where Claude Code looks
        assert (session.workspace_dir / found / "extract_activation" / "extract_activation.py").is_file()


# ---- API Reference: Sandbox properties ----

def test_sandbox_properties(seer_runtime: Runtime, sandbox_with_model: Any) -> None:
    sandbox = sandbox_with_model
    listed = {s["sandbox_id"]: s for s in seer_runtime.manager.list_sandboxes()}
    assert re.fullmatch(r"sb-[0-9a-f]{8}", sandbox.sandbox_id) and listed[sandbox.sandbox_id]["status"] == "running"
    [handle] = sandbox.model_handles
    assert (handle.var_name, handle.name, handle.is_peft, handle.base_path) == ("model", "google/gemma-2-9b",
                                                                               False, None)
    assert json.loads(Path(handle.path, "config.json").read_text())["num_hidden_layers"] == LAYERS
    assert sandbox.repo_handles == []  # with repos: test_examples.test_environment_repos
    # Porting from Seer: jupyter_url is JupyterLab with debug=True (the next test); there is no VS Code server.
    assert sandbox.jupyter_url is None and sandbox.code_server_url is None


def test_debug_sandbox_jupyter_url_and_notebook_session_fields(seer_runtime: Runtime) -> None:
    ns: dict[str, Any] = {}
    run_doc(IMPORTS + 'sandbox = Sandbox(SandboxConfig(debug=True, models=[ModelConfig(name="google/gemma-2-9b")]'
            ')).start()\nsession = create_notebook_session(sandbox, Workspace(), name="probe")\n', ns)
    sandbox, session = ns["sandbox"], ns["session"]
    try:
        assert isinstance(session, NotebookSession)
        assert sandbox.code_server_url is None
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/lab\?token=\S+", sandbox.jupyter_url)
        # session_id: the manager's, and the one the session's MCP server runs cells in
        assert session.session_id in {s["session_id"] for s in seer_runtime.manager.list_sessions()}
        names, out = call_tool(session.mcp_config, "execute_code",
                               {"code": "answer = 6 * 7\nprint(answer)", "session_id": session.session_id})
        assert "execute_code" in names and out.strip() == "42"
        # exec: Python in that same notebook; a failing cell raises
        assert session.exec("print(answer + 1)").strip() == "43"
        with pytest.raises(SessionError, match="ZeroDivisionError"):
            session.exec("1 / 0")
        # workspace_path: where the kernel works and the notebook is kept
        assert session.exec("import os\nprint(os.getcwd())").strip() in (session.workspace_path, "/workspace")
        assert Path(session.notebook_path).parent == Path(session.workspace_path) / "notebooks"
        # model_info_text: see the Models test; here the one model
        assert session.model_info_text.startswith("Preloaded models:\n- `model` (causal LM, tokenizer `tokenizer`): "
                                                  "google/gemma-2-9b")
        # jupyter_url ("view notebook in browser"): JupyterLab, showing the session's notebook and its cells
        assert session.jupyter_url == sandbox.jupyter_url
        assert b"JupyterLab" in wait_for(session.jupyter_url)
        base, token = session.jupyter_url.split("/lab?token=")
        relative = Path(session.notebook_path).relative_to(session.workspace_path)
        shown = json.loads(fetch(f"{base}/api/contents/{relative}?token={token}"))
        assert "answer = 6 * 7" in json.dumps(shown["content"]["cells"])
        # terminate(): the session ends, the sandbox goes on
        session.terminate()
        assert session.session_id not in {s["session_id"] for s in seer_runtime.manager.list_sessions()}
        assert sandbox.exec("echo running").strip() == "running"
    finally:
        sandbox.terminate()


# ---- API Reference: Execution API ----

def test_cli_session_exec_and_exec_shell(seer_runtime: Runtime, sandbox_with_model: Any) -> None:
    ns: dict[str, Any] = {"sandbox": sandbox_with_model}
    run_doc(IMPORTS + "session = create_cli_session(sandbox, Workspace(), 'cli')\n", ns)
    session = ns["session"]
    assert isinstance(session, CLISession)
    assert session.session_id in {s["session_id"] for s in seer_runtime.manager.list_sessions()}
    # exec_shell(cmd): one shell, its state carrying over
    assert session.exec_shell("cd /tmp && export GREETING=hi").strip() == ""
    assert session.exec_shell("pwd; echo $GREETING").split() == ["/tmp", "hi"]
    # exec(code): Python in the sandbox (Seer's `torch` needs no import)
    assert session.exec("print(torch.tensor([2, 3]).prod().item())").strip() == "6"
    # mcp_config: the agent's commands run in that shell
    names, out = call_tool(session.mcp_config, "execute_code", {"code": "echo $GREETING from $(pwd)"})
    assert "execute_code" in names and out.strip() == "hi from /tmp"
    session.terminate()


def test_local_notebook_session_fields(seer_runtime: Runtime, experiment_dir: Path) -> None:
    ns: dict[str, Any] = {}
    run_doc('from seer_mcp import Library, Workspace, create_local_notebook_session\n'
            'session = create_local_notebook_session(\n'
            '    workspace=Workspace(libraries=[Library.from_code("utils", "def foo(): ...")]),\n'
            '    name="probe",\n'
            '    output_dir="./outputs"\n'
            ')\n', ns)
    session = ns["session"]
    assert isinstance(session, LocalNotebookSession)
    try:
        # exec and mcp_config: one kernel
        assert session.exec("import utils\nx = 41\nprint(utils.foo())").strip() == "None"
        assert run_a_cell(session.mcp_config, "print(x + 1)").strip() == "42"
        # workspace_path: the kernel's working directory, holding the workspace's libraries
        assert session.exec("import os\nprint(os.getcwd())").strip() in (session.workspace_path, "/workspace")
        assert (Path(session.workspace_path) / "libraries" / "utils.py").read_text() == "def foo(): ..."
        # Porting from Seer: jupyter_url needs debug=True, which a local notebook session does not take.
        assert session.jupyter_url is None and session.model_info_text == ""  # no models: Seer's was "" too
    finally:
        session.terminate()
    # terminate(): the sandbox is gone; notebook_path is the saved notebook, and output_dir has a copy of it
    assert session.sandbox.info["status"] == "terminated"
    assert session.session_id not in {s["session_id"] for s in seer_runtime.manager.list_sessions()}
    saved = [json.loads(Path(p).read_text()) for p in (session.notebook_path, session.notebook_file)]
    assert Path(session.notebook_file) == experiment_dir / "outputs" / "probe.ipynb"
    assert saved[0] == saved[1] and "x = 41" in json.dumps(saved[0]["cells"])


# ---- Harness → Interactive mode; API Reference → run_agent_interactive ----

INTERACTIVE = '''
from seer_mcp.harness import run_agent_interactive

await run_agent_interactive(
    prompt=prompt,
    mcp_config=session.mcp_config,
    user_message="Start by exploring the model's hidden preferences.",
)
'''


@needs_claude_cli
def test_interactive_mode(sandbox_with_model: Any, claude_cli: FakeMessagesAPI, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from seer_mcp import Workspace, create_notebook_session

    session = create_notebook_session(sandbox_with_model, Workspace())
    probe = tool_use("mcp__seer-notebook__execute_code", {"code": "print(model.config.num_hidden_layers)"})
    claude_cli.script = [message(text("Let me look."), probe), message(text("It has 16 layers.")),
                         message(text("Nothing hidden so far."))]
    monkeypatch.setattr(sys, "stdin", io.StringIO("What did you find?\n"))  # the user's one line, then Ctrl-D
    ns: dict[str, Any] = {"prompt": f"{session.model_info_text}\n\nInvestigate the model.", "session": session}
    asyncio.run(eval(compile(INTERACTIVE, "<seer docs>", "exec",  # noqa: S307 - the doc's code, top-level await
                             flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), ns))

    first = claude_cli.requests[0]
    assert "Investigate the model." in json.dumps(first["system"])
    assert "mcp__seer-notebook__execute_code" in {tool["name"] for tool in first["tools"]}
    said = json.dumps(first["messages"])
    assert "Start by exploring the model's hidden preferences." in said
    sent = claude_cli.tool_results(1)[probe["id"]]
    output = sent["content"] if isinstance(sent["content"], str) else result_text(sent)
    assert not sent.get("is_error") and output.splitlines()[0] == str(LAYERS), output
    assert "What did you find?" in json.dumps(claude_cli.requests[2]["messages"])  # from stdin, same conversation
    shown = capsys.readouterr().out
    for line in ("> Start by exploring the model's hidden preferences.", "[assistant] It has 16 layers.",
                 "[assistant] Nothing hidden so far."):
        assert line in shown
    assert "print(model.config.num_hidden_layers)" in Path(session.notebook_copy).read_text()
    [transcript] = (tmp_path / "outputs" / "transcripts").glob("*.jsonl")  # SEER_OUTPUTS_DIR (the fake_api fixture)
    kinds = [json.loads(line)["kind"] for line in transcript.read_text().splitlines()]
    assert kinds[0] == "system" and kinds.count("user") == 2 and kinds[-1] == "final"
