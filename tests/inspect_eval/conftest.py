from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("inspect_ai")  # the `inspect` extra; scripts/setup-env.sh installs it


@pytest.fixture
def seer_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The process's seer-mcp runtime on this test's state and outputs; closed (and every sandbox it
    started terminated) after the test. Returns the state dir, where sandboxes' processes are marked."""
    from seer_mcp.api.runtime import Runtime, set_default_runtime

    state = tmp_path / "state"
    monkeypatch.setenv("SEER_STATE_DIR", str(state))
    monkeypatch.setenv("SEER_OUTPUTS_DIR", str(tmp_path / "outputs"))
    runtime = Runtime()
    set_default_runtime(runtime)
    yield state
    runtime.close()
    set_default_runtime(None)


TINY = """
[experiment]
name = "tiny"
task = "Say what {word} is."
[sandbox]
backend = "local"
[session]
name = "work"
[agent]
tools = ["cells"]
[sweep]
runs = 2
[sweep.grid]
word = ["apple", "none"]
[sweep.truth.word]
apple = ["fruit"]
none = []
"""


def write_config(folder: Path, text: str = TINY, name: str = "tiny.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path
