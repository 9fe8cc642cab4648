"""`seer-mcp sweep CONFIG`: the config's agent run many times over a grid, K at a time, then scored.

Each run is `seer-mcp run` on the config with one cell's values filled in: its own server and sandbox,
its config written as `runs/<id>/config.json` (paths made absolute), its transcript, notebook and
outputs under `runs/<id>/`. A finished run is one line of `results.jsonl` (its final report,
tool-call counts, tokens, wall time, GPU-seconds, estimated cost); a sweep started again skips the
runs found there, so one killed half-way resumes. When all are done each run is graded against the
config's `[sweep.truth]` (`sweep_grade`), and the per-cell rates with their 95% intervals are printed
and written as `scores.csv` and `scores.png`, beside `summary.csv` (one row per run).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import os
import re
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from seer_mcp.errors import InvalidRequest
from seer_mcp.experiments.config import ConfigError, ExperimentConfig
from seer_mcp.experiments.sweep_config import SweepConfig
from seer_mcp.settings import Settings

__all__ = ["Cell", "Sweep", "grade_sweep", "parse_sets", "run_sweep"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its values, by grid name, in grid order."""

    values: tuple[tuple[str, Any], ...]

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values) or "(one cell)"

    @property
    def slug(self) -> str:
        text = "_".join(f"{k}-{v}" for k, v in self.values) or "run"
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:80]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


def parse_sets(items: list[str]) -> dict[str, Any]:
    """`--set key=value` items: the value is read as TOML when it parses (numbers, booleans, lists,
    quoted strings), else taken as a plain string."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidRequest(f"--set {item!r}: write key=value, e.g. --set agent.model=claude-opus-5")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        out[key.strip()] = value
    return out


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise InvalidRequest(f"{key}: {part!r} is not a table in the config")
        node = child
    node[parts[-1]] = value


def _fill(value: Any, variables: dict[str, Any]) -> Any:
    """Every "{name}" of a grid variable in the config's strings, replaced by the cell's value."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: str(variables[m.group(1)]) if m.group(1) in variables else m.group(0),
                                value)
    if isinstance(value, list):
        return [_fill(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, variables) for k, v in value.items()}
    return value


class Sweep:
    """A config's sweep: its cells, each run's config, and where everything is written."""

    def __init__(self, config_path: Path, out_dir: Path | None = None, runs: int | None = None,
                 parallel: int | None = None, sets: dict[str, Any] | None = None, require_sweep: bool = True
                 ) -> None:
        self.config_path = Path(config_path).expanduser().resolve()
        config = ExperimentConfig.load(self.config_path)  # the whole file checked first, placeholders and all
        if config.sweep is None and require_sweep:
            raise InvalidRequest(f"{config_path}: the config has no [sweep] table (see configs/organism-sweep.toml)")
        self.raw = tomllib.loads(self.config_path.read_text(encoding="utf-8"))
        self.raw.pop("sweep", None)
        # A config without [sweep] (an Inspect task of one experiment) is one cell, run once.
        self.settings: SweepConfig = config.sweep or SweepConfig()
        self.name = config.experiment.name
        self.runs = runs or self.settings.runs
        self.parallel = parallel or self.settings.parallel
        self.sets = sets or {}
        self.out_dir = Path(out_dir or Settings().outputs_dir / "sweeps" / self.name).expanduser().resolve()
        grid = self.settings.grid
        self.cells = [Cell(tuple(zip(grid, combo))) for combo in itertools.product(*grid.values())] or [Cell(())]
        if self.sets:  # a key the config cannot take fails now, not in the first run
            self.config_for(self.cells[0])

    @property
    def run_ids(self) -> list[tuple[str, Cell, int]]:
        return [(f"{cell.slug}.r{r + 1}", cell, r + 1) for cell in self.cells for r in range(self.runs)]

    def cell_of(self, values: dict[str, Any]) -> Cell:
        """The cell with these values for the grid's names (an Inspect sample's metadata)."""
        missing = [name for name in self.settings.grid if name not in values]
        if missing:
            raise InvalidRequest(f"{self.config_path}: no value for the grid's {', '.join(missing)} "
                                 f"(given: {', '.join(values) or 'none'})")
        return Cell(tuple((name, values[name]) for name in self.settings.grid))

    def config_for(self, cell: Cell) -> ExperimentConfig:
        """The config of a run of `cell`: variables filled in, dotted keys and --set applied, validated."""
        variables = {k: v for k, v in cell.values if "." not in k}
        data = _fill(copy.deepcopy(self.raw), variables)
        for key, value in [*((k, v) for k, v in cell.values if "." in k), *self.sets.items()]:
            _set_dotted(data, key, value)
        sandbox = data.setdefault("sandbox", {})
        if self.parallel > 1 and isinstance(sandbox, dict) and sandbox.get("backend") in (None, "local"):
            # K local kernels share this machine's cores: each gets its share of threads. Left at torch's
            # default (every core each), their thread pools spin against each other: 20x slower on 2 cores.
            threads = str(max(1, (os.cpu_count() or 1) // self.parallel))
            env = sandbox.setdefault("env", {})
            for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env.setdefault(name, threads)
        try:
            return ExperimentConfig.from_dict(data, base_dir=self.config_path.parent,
                                              source=f"{self.config_path} ({cell.label})")
        except ConfigError:
            raise
        except Exception as exc:  # a value the grid gave that the config cannot take
            raise InvalidRequest(f"{self.config_path} ({cell.label}): {exc}") from exc

    def done(self) -> dict[str, dict[str, Any]]:
        """The finished runs recorded in results.jsonl (the last record of each id)."""
        results = self.out_dir / "results.jsonl"
        found: dict[str, dict[str, Any]] = {}
        if results.exists():
            for line in results.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(json.JSONDecodeError):  # a line cut short by a kill
                    record = json.loads(line)
                    found[record["run_id"]] = record
        return found


async def _run_one(sweep: Sweep, run_id: str, cell: Cell, repeat: int, log_level: str) -> dict[str, Any]:
    """One run: its config written, `seer-mcp serve --experiment` and the agent, its numbers collected."""
    from seer_mcp.experiments.run import ExperimentServer, agent_messages

    folder = sweep.out_dir / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    config = sweep.config_for(cell)
    config_file = folder / "config.json"
    config_file.write_text(json.dumps(config.model_dump(mode="json", exclude_unset=True), indent=2) + "\n")
    transcript = folder / "transcript.jsonl"
    transcript.unlink(missing_ok=True)  # a run redone after a failure starts its transcript again
    record: dict[str, Any] = {"run_id": run_id, "cell": cell.as_dict(), "repeat": repeat, "status": "failed",
                              "config": str(config_file), "transcript": str(transcript)}
    calls: Counter[str] = Counter()
    record["started_at"] = round(time.time(), 3)
    started = time.monotonic()
    final = None
    # Its notebook and outputs in the run's folder; fastmcp's start-up banner (K of them) kept off the terminal.
    env = {"SEER_OUTPUTS_DIR": str(folder / "outputs"),
           "FASTMCP_LOG_LEVEL": os.environ.get("FASTMCP_LOG_LEVEL", "WARNING")}
    try:
        async with ExperimentServer(config_file, log_level, env=env) as server:
            async def converse() -> None:
                nonlocal final
                async with contextlib.aclosing(agent_messages(config, server.entry(), transcript)) as messages:
                    async for message in messages:
                        if message.kind == "tool_call":
                            calls[message.tool_name or "?"] += 1
                        elif message.kind == "final":
                            final = message
            await server.run_with(converse())
        record["status"] = "ok" if final is not None and not final.is_error else "failed"
        if final is None:
            record["error"] = "the agent gave no final answer"
        elif final.is_error:
            record["error"] = final.content[:2000]
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    wall = time.monotonic() - started
    record["ended_at"] = round(time.time(), 3)
    usage = (final.metadata.get("usage") if final is not None else None) or {}
    gpus = (config.sandbox.gpu_count or 1) if config.sandbox.gpu else 0
    gpu_s = round(wall * gpus, 1)
    cost = final.metadata.get("total_cost_usd") if final is not None else None
    if sweep.settings.gpu_hourly_usd is not None and gpu_s:
        cost = round((cost or 0.0) + gpu_s / 3600 * sweep.settings.gpu_hourly_usd, 4)
    notebooks = sorted(str(p) for p in (folder / "outputs").rglob("*.ipynb"))
    record.update(final=final.content if final is not None else "", tool_calls=dict(calls),
                  tool_calls_total=sum(calls.values()), tokens={k: usage[k] for k in usage if "tokens" in k},
                  wall_s=round(wall, 2), gpu_s=gpu_s, cost_usd=cost, notebooks=notebooks,
                  backend=config.sandbox.backend or "default", provider=config.agent.provider)
    return record


def _progress(out: TextIO, done: int, running: int, failed: int, total: int, walls: list[float],
              parallel: int) -> None:
    left = total - done
    eta = ""
    if walls and left:
        seconds = sum(walls) / len(walls) * left / max(1, min(parallel, left))
        eta = f", about {_duration(seconds)} left"
    print(f"[sweep] {done}/{total} done, {running} running, {failed} failed{eta}", file=out, flush=True)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


async def run_sweep(sweep: Sweep, out: TextIO = sys.stderr, log_level: str = "WARNING") -> list[dict[str, Any]]:
    """Runs what results.jsonl does not have yet, `parallel` at a time; returns every run's record."""
    sweep.out_dir.mkdir(parents=True, exist_ok=True)
    done = {k: v for k, v in sweep.done().items() if v.get("status") == "ok"}
    todo = [item for item in sweep.run_ids if item[0] not in done]
    total = len(sweep.run_ids)
    print(f"[sweep] {sweep.name}: {len(sweep.cells)} cells x {sweep.runs} runs = {total}; {len(done)} done before, "
          f"{len(todo)} to run, {sweep.parallel} at a time; results in {sweep.out_dir}", file=out, flush=True)
    gate = asyncio.Semaphore(sweep.parallel)
    state = {"running": 0, "done": len(done), "failed": 0}
    walls: list[float] = []
    results = sweep.out_dir / "results.jsonl"

    async def one(run_id: str, cell: Cell, repeat: int) -> dict[str, Any]:
        async with gate:
            state["running"] += 1
            try:
                record = await _run_one(sweep, run_id, cell, repeat, log_level)
            finally:
                state["running"] -= 1
            with results.open("a", encoding="utf-8") as handle:  # one line per finished run, at once
                handle.write(json.dumps(record) + "\n")
            state["done"] += 1
            state["failed"] += record["status"] != "ok"
            walls.append(record["wall_s"])
            if record["status"] != "ok":
                print(f"[sweep] {run_id} failed: {record.get('error', '')[:300]}", file=out, flush=True)
            _progress(out, state["done"], state["running"], state["failed"], total, walls, sweep.parallel)
            return record

    records = await asyncio.gather(*(one(*item) for item in todo))
    merged = {**done, **{r["run_id"]: r for r in records}}
    return [merged[run_id] for run_id, _, _ in sweep.run_ids if run_id in merged]


async def grade_sweep(sweep: Sweep, records: list[dict[str, Any]], out: TextIO = sys.stdout) -> list[dict[str, Any]]:
    """Grades every finished run (`grade` added to its record, all written to graded.jsonl), prints the
    per-cell table and writes scores.csv, summary.csv and scores.png; returns the table's rows."""
    from seer_mcp.experiments.sweep_grade import (grade_judge, grade_rule, pools, print_scores, score, truth_of,
                                                  write_scores)

    grader = sweep.settings.grader
    for record in records:
        if record["status"] != "ok":
            continue
        truth = truth_of(sweep.settings, record["cell"])
        if grader.kind == "judge":
            record["grade"] = await grade_judge(record["final"], truth, grader)
        else:
            record["grade"] = grade_rule(record["final"], truth, grader)
    with (sweep.out_dir / "graded.jsonl").open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    rows = score(records, sweep.settings, [*sweep.cells, *pools(sweep.settings)])
    print(f"\n{sweep.name}: {len(records)} runs, graded by the {grader.kind} grader", file=out)
    print_scores(rows, out)
    write_scores(rows, records, sweep.out_dir, f"{sweep.name} ({grader.kind} grader)")
    print(f"\nresults: {sweep.out_dir / 'results.jsonl'}; per run: summary.csv; per cell: scores.csv, scores.png",
          file=out)
    return rows
