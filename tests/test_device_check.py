"""scripts/device_check.py, the check a GPU machine runs, passes its own checks on CPU."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

from tests.conftest import PYTHON

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "device_check.py"


def test_the_device_check_passes_on_cpu(tmp_path: Path) -> None:
    env_state = {"SEER_STATE_DIR": str(tmp_path / "state"), "SEER_OUTPUTS_DIR": str(tmp_path / "out")}
    done = subprocess.run([PYTHON, str(SCRIPT), "--device", "cpu"], capture_output=True, text=True,
                          env={**os.environ, **env_state}, timeout=600)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(line.startswith("PASS ") for line in lines) == 9 and not any(line.startswith("FAIL") for line in lines)
    assert "PASS cpu sandbox with a preloaded model: cpu float32 (64,)" in lines


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_the_device_check_refuses_a_missing_device_clearly() -> None:
    done = subprocess.run([PYTHON, str(SCRIPT), "--device", "cuda"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no CUDA device" in done.stderr
