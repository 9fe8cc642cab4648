"""The "seer" sandbox environment under Inspect's runner: Inspect's own tools (bash(), python()) and its
sandbox API (exec, read_file, write_file) work in a seer-mcp sandbox, the same one whose notebook the
agent's seer-mcp tools reach; what a command can see of the host is only the sandbox's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from inspect_ai.solver import Generate, TaskState, generate, solver, use_tools
from inspect_ai.tool import ToolDef, bash, python
from inspect_ai.util import SandboxEnvironmentSpec, sandbox
from inspect_ai.util._sandbox.environment import SandboxUserUnsupportedError

from seer_mcp.inspect_eval import SeerSandboxConfig, SeerSandboxEnvironment
from seer_mcp.spec import SandboxSpec
from tests.conftest import sandbox_processes
from tests.inspect_eval.conftest import write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _mock(*outputs: ModelOutput) -> Any:
    for output in outputs:
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # no tiktoken, offline
    return get_model("mockllm/model", custom_outputs=list(outputs))


async def _raises(work: Any) -> list[str]:
    """The names of the classes of what `work` raised (Inspect may wrap ours in a subclass of its own)."""
    try:
        await work
    except Exception as exc:
        return [cls.__name__ for cls in type(exc).__mro__]
    return ["nothing"]


@solver
def probe_the_sandbox() -> Any:
    """Inspect's sandbox API, every part of it, its findings kept in the sample's store."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        box = sandbox()
        found: dict[str, Any] = {}
        await box.write_file("notes/plan.txt", "line one\r\nline two\n")
        await box.write_file("notes/blob.bin", bytes(range(256)))
        found["text"] = await box.read_file("notes/plan.txt")
        found["bytes_ok"] = await box.read_file("notes/blob.bin", text=False) == bytes(range(256))
        env = box.as_type(SeerSandboxEnvironment)
        found["absolute_in_workspace"] = await box.read_file(f"{env.workspace_path}/notes/plan.txt")
        # A path outside the workspace: through a copy made inside the sandbox.
        await box.write_file("/tmp/seer-inspect-probe/deep/x.bin", b"\x00outside\xff")
        found["outside"] = list(await box.read_file("/tmp/seer-inspect-probe/deep/x.bin", text=False))
        upper = await box.exec(["python3", "-c", "import sys; print(sys.stdin.read().upper())"], input="hello\n")
        found["stdin"] = upper.stdout
        here = await box.exec(["bash", "-c", 'echo "$GREETING"; pwd; ls'], env={"GREETING": "it's me"}, cwd="notes")
        found["env_cwd"] = here.stdout.splitlines()
        failed = await box.exec(["bash", "-c", "echo oops >&2; exit 3"])
        found["failed"] = [failed.success, failed.returncode, failed.stderr.strip()]
        found["timeout"] = await _raises(box.exec(["sleep", "30"], timeout=1))
        found["missing"] = await _raises(box.read_file("notes/nothing.txt"))
        found["missing_outside"] = await _raises(box.read_file("/no/such/file"))
        found["as_root"] = await _raises(box.exec(["id"], user="root"))
        # The agent's seer-mcp tools reach the same sandbox: its notebook reads what Inspect wrote.
        async with env.mcp_server() as server:
            by_name = {ToolDef(tool).name: tool for tool in await server.tools()}
            result = await by_name["execute_code"](code="print(open('notes/plan.txt').read().split()[-1])")
        found["notebook_saw"] = result if isinstance(result, str) else [getattr(c, "text", "") for c in result]
        found["tools"] = sorted(by_name)
        state.store.set("found", found)
        return state

    return solve


def test_inspects_sandbox_api_works_in_a_seer_sandbox(tmp_path: Path, seer_env: Path) -> None:
    config = write_config(tmp_path)
    task = Task(dataset=[Sample(input="probe", metadata={"word": "apple"})], solver=probe_the_sandbox(),
                sandbox=SandboxEnvironmentSpec("seer", SeerSandboxConfig(config=str(config))))
    (log,) = inspect_eval(task, model=_mock(ModelOutput.from_content("mockllm/model", "done")),
                          log_dir=str(tmp_path / "logs"), display="none")
    assert log.status == "success", log.error
    found = log.samples[0].store["found"]
    assert found["text"] == "line one\r\nline two\n" and found["bytes_ok"]  # newlines kept as written
    assert found["absolute_in_workspace"] == found["text"]
    assert bytes(found["outside"]) == b"\x00outside\xff"
    assert found["stdin"] == "HELLO\n\n"
    assert found["env_cwd"][0] == "it's me" and found["env_cwd"][1].endswith("/notes")
    assert set(found["env_cwd"][2:]) == {"blob.bin", "plan.txt"}
    assert found["failed"] == [False, 3, "oops"]
    assert "TimeoutError" in found["timeout"]
    assert "FileNotFoundError" in found["missing"] and "FileNotFoundError" in found["missing_outside"]
    assert SandboxUserUnsupportedError.__name__ in found["as_root"]
    assert "two" in "".join(found["notebook_saw"])
    # The config's [agent] tools only: the cells group.
    assert found["tools"] == ["add_markdown", "edit_cell", "execute_code", "interrupt_kernel", "read_notebook",
                              "restart_kernel", "wait_cell"]
    assert not sandbox_processes(str(seer_env))  # terminated at the sample's cleanup


# Secrets in the environment, the state database, other sandboxes' folders.
HUNT = ("env | grep -iE 'ANTHROPIC|MODAL|SEER_STATE|TOKEN|SECRET' || echo none-found; "
        "ls -a {state} 2>&1; echo sandboxes: $(ls {state}/sandboxes 2>&1 | wc -l)")


def test_inspects_bash_and_python_tools_run_in_the_sandbox_and_see_none_of_the_host(
        tmp_path: Path, seer_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-operators-own-key")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-operators-modal-secret")
    config = write_config(tmp_path)
    from seer_mcp.inspect_eval.sandboxenv import shared_runtime

    other = shared_runtime().run(shared_runtime().manager.create_sandbox(SandboxSpec()))  # another sandbox
    model = _mock(
        ModelOutput.for_tool_call("mockllm/model", "bash", {"command": "echo made-by-bash > from_bash.txt; pwd"}),
        ModelOutput.for_tool_call("mockllm/model", "python", {"code": "print(open('from_bash.txt').read().strip())"}),
        ModelOutput.for_tool_call("mockllm/model", "bash", {"command": HUNT.format(state=seer_env)}),
        ModelOutput.from_content("mockllm/model", "done"))
    task = Task(dataset=[Sample(input="go", metadata={"word": "none"})], solver=[use_tools(bash(), python()),
                                                                                generate()],
                sandbox=("seer", SeerSandboxConfig(config=str(config))))
    (log,) = inspect_eval(task, model=model, log_dir=str(tmp_path / "logs"), display="none")
    assert log.status == "success", log.error
    results = [m.text for m in log.samples[0].messages if m.role == "tool"]
    assert len(results) == 3, results
    assert "/" in results[0] and "made-by-bash" in results[1]
    hunt = results[2]
    assert "none-found" in hunt and "sk-ant" not in hunt and "operators" not in hunt, hunt
    # Of the state dir, only the path down to its own workspace: no database, no other sandbox.
    assert (seer_env / "state.sqlite").exists() and "state.sqlite" not in hunt, hunt
    assert hunt.strip().endswith("sandboxes: 1"), hunt
    shared_runtime().run(shared_runtime().manager.terminate_sandbox(other["sandbox_id"]))
    assert not sandbox_processes(str(seer_env))


def test_the_seer_sandbox_needs_a_config(tmp_path: Path) -> None:
    task = Task(dataset=[Sample(input="x")], solver=generate(), sandbox="seer")
    (log,) = inspect_eval(task, model=_mock(ModelOutput.from_content("mockllm/model", "x")), display="none",
                          log_dir=str(tmp_path / "logs"))
    assert log.status == "error"
    assert 'the "seer" sandbox needs an experiment config' in log.error.message
