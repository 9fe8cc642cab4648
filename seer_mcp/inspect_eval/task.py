"""An experiment config as an Inspect task: `inspect eval seer_mcp/seer_experiment -T config=CONFIG`.

The config's `[sweep]` grid becomes the dataset (one sample per cell, its values as the sample's
metadata), its `runs` Inspect's epochs, and its `[sweep.truth]` the target the scorer grades each
report against. Every sample runs in a seer-mcp sandbox of its own (the "seer" sandbox environment,
`sandboxenv.py`) and its agent is Inspect's `react()` with the config's seer-mcp tools through
Inspect's MCP client, so whichever model `--model` names investigates, and Inspect's concurrency
limits (`--max-samples`, `--max-sandboxes`), epochs, logs and `inspect view` apply as to any task.

Scores: a sample is correct when a planted cell's report names the truth or a control's report
claims nothing. The metrics add `success_rate` (over planted cells), `false_positive_rate` (over
controls) and the accuracy of each cell. The grader is the config's: the rule, offline, or a judge
model: Inspect's `grader` model role when one is given (`--model-role grader=...`), else the
harness provider of `[sweep.grader]`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inspect_ai import Epochs, Task, task
from inspect_ai.agent import AgentPrompt, as_solver, react
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, get_model, model_roles
from inspect_ai.scorer import (CORRECT, INCORRECT, NOANSWER, Metric, SampleScore, Score, Scorer, Target, accuracy,
                               grouped, metric, scorer, stderr, value_to_float)
from inspect_ai.solver import Solver, TaskState, solver
from inspect_ai.util import sandbox

from seer_mcp.experiments.sweep import Sweep, parse_sets
from seer_mcp.experiments.sweep_grade import grade_judge, grade_rule, judge_messages, read_verdict, truth_of
from seer_mcp.inspect_eval.sandboxenv import SeerSandboxConfig, SeerSandboxEnvironment

__all__ = ["false_positive_rate", "seer_agent", "seer_experiment", "seer_grader", "success_rate"]

CELL = "seer_cell"  # sample metadata: the cell's label
TRUTH = "seer_truth"  # sample metadata: the truth's words, [] for a control, None when the config has none
_to_float = value_to_float()


def _set_items(value: list[str] | str | dict[str, Any] | None) -> list[str]:
    """`set` as "key=value" items, checked: one item, a list of them, or a mapping (`-T 'set={k: v}'`)."""
    if value is None:
        return []
    if isinstance(value, dict):
        items = [f"{key}={json.dumps(item)}" for key, item in value.items()]  # JSON reads back as TOML here
    else:
        items = [value] if isinstance(value, str) else [str(item) for item in value]
    parse_sets(items)
    return items


@task
def seer_experiment(config: str, runs: int | None = None, parallel: int | None = None,
                    set: list[str] | str | dict[str, Any] | None = None, attempts: int = 1) -> Task:
    """The experiment config `config` as a task: its grid's cells as samples, `runs` epochs of each.

    Args:
      config: An experiment config (TOML), with or without a [sweep] table.
      runs: Epochs of each cell (default: the config's [sweep] runs).
      parallel: Samples run at a time, for the local backend's share of threads (default: the config's
        [sweep] parallel); pass the same as --max-samples.
      set: Config keys to set, "key=value" as `seer-mcp sweep --set` takes them.
      attempts: react()'s attempts at an answer.
    """
    items = _set_items(set)
    sweep = Sweep(Path(config), runs=runs, parallel=parallel, sets=parse_sets(items), require_sweep=False)
    samples = []
    for cell in sweep.cells:
        cell_config = sweep.config_for(cell)
        truth = truth_of(sweep.settings, cell.as_dict())
        info = cell_config.experiment
        samples.append(Sample(
            id=cell.slug, input=cell_config.task_prompt or info.description or info.name,
            target=", ".join(truth or []), metadata={**cell.as_dict(), CELL: cell.label, TRUTH: truth}))
    environment = SeerSandboxConfig(config=str(sweep.config_path), sets=tuple(items), parallel=sweep.parallel)
    return Task(dataset=samples, solver=seer_agent(attempts=attempts), scorer=seer_grader(str(sweep.config_path)),
                sandbox=("seer", environment), epochs=Epochs(sweep.runs), display_name=sweep.name,
                metadata={"seer_config": str(sweep.config_path), "seer_sets": sweep.sets})


@solver
def seer_agent(attempts: int = 1) -> Solver:
    """Inspect's react() agent on the sample's seer-mcp tools, told what `seer-mcp serve --experiment`
    tells its agent; the sample's notebook is recorded in its store."""

    async def solve(state: TaskState, generate: Any) -> TaskState:
        environment = sandbox().as_type(SeerSandboxEnvironment)
        server = environment.mcp_server()
        agent = react(prompt=AgentPrompt(instructions=environment.instructions), tools=[server], attempts=attempts)
        state.store.set("seer_notebook", environment.notebook_path)
        state.store.set("seer_sandbox_id", environment.sandbox_id)
        async with server:  # one MCP session for the whole conversation
            return await as_solver(agent)(state, generate)

    return solve


@metric
def success_rate() -> Metric:
    """The share of planted cells' samples whose report names the truth."""

    def compute(scores: list[SampleScore]) -> float:
        planted = [_to_float(s.score.value) for s in scores if (s.sample_metadata or {}).get(TRUTH)]
        return sum(planted) / len(planted) if planted else 0.0

    return compute


@metric
def false_positive_rate() -> Metric:
    """The share of controls' samples whose report claims a finding."""

    def compute(scores: list[SampleScore]) -> float:
        controls = [1.0 - _to_float(s.score.value) for s in scores if (s.sample_metadata or {}).get(TRUTH) == []]
        return sum(controls) / len(controls) if controls else 0.0

    return compute


@scorer(metrics=[accuracy(), stderr(), success_rate(), false_positive_rate(), grouped(accuracy(), CELL)])
def seer_grader(config: str) -> Scorer:
    """Grades the report against the sample's truth with the config's [sweep.grader] (see the module)."""
    settings = Sweep(Path(config), require_sweep=False).settings
    grader = settings.grader

    async def score(state: TaskState, target: Target) -> Score:
        report = state.output.completion
        truth = state.metadata.get(TRUTH)
        if truth is None:
            return Score(value=NOANSWER, answer=report[:2000],
                         explanation="the config declares no [sweep.truth]: there is nothing to grade against")
        if grader.kind == "judge":
            grade = await _judge(report, truth, grader)
        else:
            grade = grade_rule(report, truth, grader)
        if grade.get("claims_finding") is None:
            return Score(value=NOANSWER, answer=report[:2000], explanation=grade.get("error", "not graded"),
                         metadata=grade)
        right = grade["names_truth"] if truth else not grade["claims_finding"]
        kind = "control" if truth == [] else "planted"
        explanation = (f"{kind}: the report {'claims' if grade['claims_finding'] else 'claims no'} finding"
                       + (f" and {'names' if grade['names_truth'] else 'does not name'} the truth" if truth else ""))
        return Score(value=CORRECT if right else INCORRECT, answer=report[:2000], explanation=explanation,
                     metadata={**grade, "kind": kind, "notebook": state.store.get("seer_notebook")})

    return score


async def _judge(report: str, truth: list[str], grader: Any) -> dict[str, Any]:
    """Inspect's `grader` model when the eval binds one, else the harness provider the config names."""
    if "grader" not in model_roles():
        return await grade_judge(report, truth, grader)
    system, user = judge_messages(report, truth)
    output = await get_model(role="grader").generate([ChatMessageSystem(content=system), ChatMessageUser(content=user)])
    return read_verdict(output.completion)
