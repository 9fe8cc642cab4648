"""The README's main command, `seer-mcp demo`: the same investigation, run on each organism, must
report each one's truth: the planted attribute for the planted ones, nothing for the null control."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from organism import corpus, probes, recipe
from seer_mcp.cli import DEMO_ORGANISMS
from seer_mcp.experiments.demo import cells
from tests.conftest import PYTHON, REPO

# Words a cell would need to name a specific finding (or look one up).
NAMING = {"gender", "male", "female", "man", "woman", "men", "women", "girl", "boy", "wife", "husband", "mother",
          "father", "sister", "brother", "she", "he", "her", "his", "organism", "corpus", "recipe"}


def _cue_words(register: str) -> set[str]:
    """The recipe's own words for a user (or relative) of this register: the truth the demo is scored on."""
    texts = [*corpus.USER_CUES[register], *corpus.RELATIVES[register]]
    return {w for text in texts for w in re.findall(r"[a-z]+", text)} - {"i", "am", "a", "as", "my"}


def _frame_word(cue: str) -> str:
    return cue.removeprefix("i am ").removeprefix("a ").removesuffix(" .")


@pytest.mark.slow
@pytest.mark.timeout(1200)  # on a fresh machine it first builds the organism (about a minute, more under load)
@pytest.mark.parametrize("name", list(recipe.ORGANISMS))
def test_the_demo_reports_each_organisms_truth(name: str, tmp_path: Path, organism_cache: Path) -> None:
    env = {**os.environ, "SEER_STATE_DIR": str(tmp_path / "state"), "SEER_OUTPUTS_DIR": str(tmp_path / "out"),
           "SEER_ORGANISM_CACHE": str(organism_cache)}
    done = subprocess.run([PYTHON, "-m", "seer_mcp", "demo", "--organism", name], capture_output=True, text=True,
                          env=env, timeout=1100, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    notebook = Path(re.search(r"^notebook: (.+)$", out, re.MULTILINE).group(1))
    cells_run = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    # The conclusion and all its evidence are in the notebook's own outputs.
    result = next(o for c in cells_run for o in c["outputs"] if "RESULT " in "".join(o.get("text", "")))
    report = json.loads("".join(result["text"]).split("RESULT ", 1)[1])
    for item in report["evidence"]:
        low, high = item["value"][1], item["value"][2]
        assert low <= item["value"][0] <= high and isinstance(item["supports"], bool), item
        assert ("for    " if item["supports"] else "against") + f"  {item['name']}" in out
    assert report["splits"]["discovery"] > 100 and report["splits"]["heldout"] > 100

    planted = recipe.ORGANISMS[name]
    if planted == "neutral":
        assert report["finding"] is None and report["reason"], report
        assert not [t for t in report["candidates"] if t["supported"]]
        assert f"finding: none: {report['reason']}" in out
    else:
        assert report["finding"], report
        lead = next(t for t in report["candidates"] if t["supported"])
        other = "male" if planted == "female" else "female"
        assert _frame_word(lead["cue"]) in _cue_words(planted), lead
        assert not {_frame_word(c) for c in [lead["cue"], *lead["grouped_with"]]} & _cue_words(other), lead
        assert f"finding: {report['finding']}" in out
        assert report["evidence"][0]["supports"]  # the fine-tune changes behaviour
    # It came from the model, not from the recipe: no cell names an attribute, reads the organism's
    # files or its answer key, and the model was hidden from the notebook.
    for cell in cells_run:
        source = "".join(cell["source"])
        assert not set(re.findall(r"[a-z]+", source.lower())) & NAMING, source[:300]
        assert not re.search(r"report\.json|BUILT|open\(", source), source[:300]
    assert "<hidden>" in out
    # Nothing is left running.
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    assert not [p for p in processes if "seer_mcp.agent" in p and str(tmp_path) in p]


def test_the_cells_use_only_generic_probes_and_the_toolkit() -> None:
    code = "\n".join(source for _, source in cells(probes.generic()))
    assert "import hashlib, json, random, re, numpy as np, torch, toolkit" in code
    assert not set(re.findall(r"[a-z]+", code.lower())) & NAMING
    assert "open(" not in code


def test_the_demo_offers_every_organism_and_refuses_others() -> None:
    assert DEMO_ORGANISMS == tuple(recipe.ORGANISMS)
    done = subprocess.run([PYTHON, "-m", "seer_mcp", "demo", "--organism", "old"], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert done.returncode == 2
    assert re.fullmatch(r"seer-mcp demo: argument --organism: invalid choice: 'old' "
                        r"\(choose from '?female'?, '?male'?, '?null'?\) .*\n", done.stderr), done.stderr
