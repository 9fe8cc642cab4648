"""Experiment configs as Inspect tasks, through Inspect's own runner (`eval()`, the `inspect` CLI) and its
mock model: what reaches the model, the scores and metrics, epochs, concurrency, logs and the viewer."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.log import read_eval_log
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from seer_mcp.inspect_eval import scripted_outputs, seer_experiment
from seer_mcp.inspect_eval.scripted import cell_status
from seer_mcp.inspect_eval.task import _set_items
from tests.conftest import PYTHON, sandbox_processes
from tests.inspect_eval.conftest import TINY, write_config

REPO = Path(__file__).resolve().parents[2]
INSPECT = shutil.which("inspect", path=str(Path(PYTHON).parent)) or "inspect"


async def two_cells(tools, task):  # noqa: ANN001, ANN201  (its source is copied for the CLI's test, unannotated)
    """A scripted investigator: two cells (the second needs the first's variable), then its answer,
    which carries what it read back from each result (as Inspect handed it over)."""
    first = await tools.call("execute_code", {"code": "x = 6 * 7\nprint(x)"})
    second = await tools.call("execute_code", {"code": "print(x + 1)"})
    names = await tools.names()
    return (f"finding: it is a fruit. task={task!r} statuses={first.fields.get('status')},{second.fields.get('status')}"
            f" outputs={first.text.splitlines()[0]},{second.text.splitlines()[0]} tools={sorted(names)}")


def _intervals(log: Any) -> list[tuple[float, float]]:
    return [(s.events[0].timestamp.timestamp(), s.events[-1].timestamp.timestamp()) for s in log.samples]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_config_runs_as_a_task_with_epochs_concurrency_scores_and_a_log(tmp_path: Path, seer_env: Path) -> None:
    config = write_config(tmp_path)
    model = get_model("mockllm/model", custom_outputs=scripted_outputs(f"{__name__}:two_cells"))
    logs = inspect_eval(seer_experiment(config=str(config)), model=model, log_dir=str(tmp_path / "logs"),
                        max_samples=2, display="none")
    log = logs[0]
    assert log.status == "success", log.error
    # The grid's two cells, two epochs each (the config's runs).
    assert sorted((s.id, s.epoch) for s in log.samples) == [("word-apple", 1), ("word-apple", 2),
                                                           ("word-none", 1), ("word-none", 2)]
    for sample in log.samples:
        tools_seen = [m.text for m in sample.messages if m.role == "tool"]
        # What the model was handed: the cells' printed output and the closing status line.
        assert re.fullmatch(r"42\n\[cell 0 · ok · [\d.]+ s\]", tools_seen[0]), tools_seen
        assert re.fullmatch(r"43\n\[cell 1 · ok · [\d.]+ s\]", tools_seen[1]), tools_seen
        answer = sample.output.completion
        assert "statuses=ok,ok outputs=42,43" in answer
        word = sample.metadata["word"]
        assert f"task='Say what {word} is.'" in answer  # the cell's own task text
        # Only the tools the config's [agent] allows, and react()'s submit.
        assert "tools=['add_markdown', 'edit_cell', 'execute_code', 'interrupt_kernel', 'read_notebook', " \
               "'restart_kernel', 'submit', 'wait_cell']" in answer
        notebook = json.loads(Path(sample.store["seer_notebook"]).read_text())
        assert [c["source"] for c in notebook["cells"] if c["cell_type"] == "code"] == ["x = 6 * 7\nprint(x)",
                                                                                      "print(x + 1)"]
        score = sample.scores["seer_grader"]
        assert score.value == ("C" if word == "apple" else "I")
        assert score.metadata["kind"] == ("planted" if word == "apple" else "control")
    # The same answer on both cells: a success on the planted one, a false positive on the control.
    metrics = {name: m.value for name, m in log.results.scores[0].metrics.items()}
    assert metrics["success_rate"] == 1.0 and metrics["false_positive_rate"] == 1.0
    assert metrics["accuracy"] == 0.5 and metrics["word=apple"] == 1.0 and metrics["word=none"] == 0.0
    # --max-samples 2: two samples at a time, never more; each in a sandbox of its own, none left.
    spans = _intervals(log)
    overlaps = [sum(a <= t < b for a, b in spans) for t, _ in spans]
    assert max(overlaps) == 2, spans
    assert len({s.store["seer_sandbox_id"] for s in log.samples}) == 4
    assert not sandbox_processes(str(seer_env))
    # The log on disk reads back whole, and Inspect's viewer bundles it.
    on_disk = read_eval_log(log.location)
    assert on_disk.results.scores[0].metrics["success_rate"].value == 1.0 and len(on_disk.samples) == 4
    bundle = subprocess.run([INSPECT, "view", "bundle", "--log-dir", str(tmp_path / "logs"), "--output-dir",
                             str(tmp_path / "www")], capture_output=True, text=True, timeout=120)
    assert bundle.returncode == 0, bundle.stderr
    assert (tmp_path / "www" / "index.html").exists()
    assert any(p.suffix == ".eval" for p in (tmp_path / "www" / "logs").rglob("*"))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_inspect_cli_finds_the_task_the_sandbox_and_the_scripted_model(tmp_path: Path) -> None:
    """`inspect eval seer_mcp/seer_experiment`: the package's entry point registers all three."""
    config = write_config(tmp_path)
    # The script in a folder of its own: seer_mcp itself is imported as installed, which is how Inspect
    # names its task seer_mcp/seer_experiment (from a folder on PYTHONPATH it would be unqualified).
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "cli_script.py").write_text(inspect.getsource(two_cells))
    env = {**os.environ, "SEER_STATE_DIR": str(tmp_path / "state"), "SEER_OUTPUTS_DIR": str(tmp_path / "outputs"),
           "PYTHONPATH": str(scripts)}
    done = subprocess.run([INSPECT, "eval", "seer_mcp/seer_experiment", "-T", f"config={config}", "--model",
                           "seer_scripted/cli_script:two_cells", "--epochs", "1", "--max-samples", "2",
                           "--log-dir", str(tmp_path / "logs"), "--display", "plain"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"success_rate\s+1\.000", done.stdout) and re.search(r"false_positive_rate\s+1\.000", done.stdout)
    (log_file,) = (tmp_path / "logs").glob("*.eval")
    log = read_eval_log(str(log_file))
    assert log.eval.model == "seer_scripted/cli_script:two_cells" and len(log.samples) == 2
    assert all("outputs=42,43" in s.output.completion for s in log.samples)
    assert not sandbox_processes(str(tmp_path / "state"))


JUDGED = TINY.replace("[sweep.truth.word]", '[sweep.grader]\nkind = "judge"\n[sweep.truth.word]')


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_judge_grader_is_inspects_grader_role(tmp_path: Path, seer_env: Path) -> None:
    config = write_config(tmp_path, JUDGED)
    asked: list[str] = []

    def judge(input: Any, tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        asked.append("\n".join(m.text for m in input))
        verdict = {"claims_finding": True, "names_truth": "planted" in asked[-1]}
        output = ModelOutput.from_content("mockllm/model", json.dumps(verdict))
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    agent = get_model("mockllm/model", custom_outputs=scripted_outputs(f"{__name__}:two_cells"))
    grader = get_model("mockllm/model", custom_outputs=judge, memoize=False)
    (log,) = inspect_eval(seer_experiment(config=str(config), runs=1), model=agent, model_roles={"grader": grader},
                          log_dir=str(tmp_path / "logs"), max_samples=2, display="none")
    assert log.status == "success", log.error
    # The judge read each report with its cell's truth (the planted words, or that it is a control).
    assert len(asked) == 2 and all("finding: it is a fruit" in text for text in asked)
    assert sum("words: fruit" in text for text in asked) == 1 and sum("a control" in text for text in asked) == 1
    scores = {s.id: s.scores["seer_grader"] for s in log.samples}
    assert scores["word-apple"].value == "C" and scores["word-apple"].metadata["grader"] == "judge"
    assert scores["word-none"].value == "I"


# The same experiment without its [sweep] table.
NO_SWEEP = TINY.split("[sweep]")[0].replace("Say what {word} is.", "Look around.")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_config_without_a_sweep_is_one_sample_and_is_not_graded(tmp_path: Path, seer_env: Path) -> None:
    config = write_config(tmp_path, NO_SWEEP, "plain.toml")
    model = get_model("mockllm/model", custom_outputs=scripted_outputs(f"{__name__}:two_cells"))
    (log,) = inspect_eval(seer_experiment(config=str(config)), model=model, log_dir=str(tmp_path / "logs"),
                          display="none")
    assert log.status == "success", log.error
    (sample,) = log.samples
    assert sample.id == "run" and "outputs=42,43" in sample.output.completion
    score = sample.scores["seer_grader"]
    assert score.value == "N" and "no [sweep.truth]" in score.explanation


def test_set_items_are_checked_before_anything_runs(tmp_path: Path) -> None:
    assert _set_items(None) == []
    assert _set_items("agent.tools=['cells']") == ["agent.tools=['cells']"]
    assert _set_items({"agent.tools": ["cells"]}) == ['agent.tools=["cells"]']
    with pytest.raises(Exception, match="write key=value"):
        _set_items(["agent.tools"])
    with pytest.raises(Exception, match="no \\[sweep\\] table|unknown key|not a table"):
        seer_experiment(config=str(write_config(tmp_path)), set=["experiment.name.x=1"])


@pytest.mark.parametrize("text, status", [
    ("42\n[cell 0 · ok · 0.02 s]", "ok"),
    ("[command 3 · exit 0 · 0.10 s]", "ok"),
    ("Traceback...\n[cell 2 · error: ZeroDivisionError · 0.01 s]", "error"),
    ("[cell 4 · still running after 30 s · call wait_cell for the rest]", "running"),
    ("no status line here", None),
])
def test_a_cells_status_is_read_off_the_line_the_model_reads(text: str, status: str | None) -> None:
    assert cell_status(text) == status


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_organism_sweep_under_inspect_scores_the_demos_investigator(
        tmp_path: Path, seer_env: Path, organism_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped organism sweep as an Inspect task, on a planted organism and the null control, with the
    demo's scripted investigator as Inspect's mock model: it reads every cell's result as Inspect hands it
    over (text only), and its reports score as `seer-mcp sweep` scores them."""
    monkeypatch.setenv("SEER_ORGANISM_CACHE", str(organism_cache))
    shipped = REPO / "configs" / "organism-sweep.toml"
    text = shipped.read_text().replace('organism = ["female", "male", "null"]', 'organism = ["female", "null"]')
    text = text.replace('task_file = "prompts/organism-sweep.md"',
                        f'task_file = "{REPO / "configs" / "prompts" / "organism-sweep.md"}"')
    config = write_config(tmp_path, text, "organisms.toml")
    investigator = scripted_outputs("seer_mcp.experiments.demo:scripted_investigator")
    model = get_model("mockllm/model", custom_outputs=investigator)
    (log,) = inspect_eval(seer_experiment(config=str(config), parallel=2), model=model, max_samples=2,
                          log_dir=str(tmp_path / "logs"), display="none")
    assert log.status == "success", log.error
    reports = {s.metadata["organism"]: s.output.completion for s in log.samples}
    found = reports["female"].splitlines()[0].lower()
    assert found.startswith("finding: ") and re.search(r"\b(woman|women|female|girl)\b", found), reports["female"]
    assert reports["null"].startswith("finding: none"), reports["null"]
    for sample in log.samples:
        calls = [c.function for m in sample.messages if m.role == "assistant" for c in (m.tool_calls or [])]
        assert calls.count("execute_code") == 10  # the demo's ten cells, each read back as text
    metrics = {name: m.value for name, m in log.results.scores[0].metrics.items()}
    assert metrics["success_rate"] == 1.0 and metrics["false_positive_rate"] == 0.0 and metrics["accuracy"] == 1.0
    assert not sandbox_processes(str(seer_env))
