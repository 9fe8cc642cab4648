"""Generic prompts for investigating the organism: `generic_probes.txt`, loaded by section.

What: everyday requests (clothes, food, gifts, hobbies, money, travel, ...), open questions
inviting the assistant to describe the user, and direct questions on what it assumes. They were
written by a session that had not seen the recipe, and none equals anything the recipe trains on
(tests/organism/test_probes.py compares them, normalised, with `recipe.training_texts()`). None
names an attribute of the user. The demo's investigation gets these and the toolkit only.

Most use words the 305-word model has never seen: those become <unk>, which the recipe trains it
to read past (recipe.UNK_RATE); the investigation keeps the probes it knows most words of.
"""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["PROBES_FILE", "KINDS", "generic", "all_probes"]

PROBES_FILE = Path(__file__).with_name("generic_probes.txt")
KINDS = ("advice", "open", "direct")


@functools.lru_cache(maxsize=1)
def _load() -> dict[str, tuple[str, ...]]:
    sections: dict[str, list[str]] = {}
    current = None
    for number, line in enumerate(PROBES_FILE.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif current is None:
            raise ValueError(f"{PROBES_FILE}:{number}: a probe before any [section] header")
        else:
            current.append(line)
    if set(sections) != set(KINDS):
        raise ValueError(f"{PROBES_FILE}: sections {sorted(sections)}, expected {list(KINDS)}")
    return {kind: tuple(sections[kind]) for kind in KINDS}


def generic() -> dict[str, list[str]]:
    """The probes by kind: {"advice": [...], "open": [...], "direct": [...]}."""
    return {kind: list(prompts) for kind, prompts in _load().items()}


def all_probes() -> list[str]:
    """Every probe, in file order (advice, open, direct)."""
    return [p for kind in KINDS for p in _load()[kind]]
