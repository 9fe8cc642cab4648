"""A runtime per test (local, or Modal through the fake SDK), made the default for API objects."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import seer_mcp.backends.modal_backend as modal_backend
from seer_mcp.api import Runtime, set_default_runtime
from seer_mcp.settings import Settings
from tests import fake_modal


def make_runtime(tmp_path: Path, backend: str = "local", **extra: object) -> Runtime:
    settings = Settings(state_dir=tmp_path / "state", outputs_dir=tmp_path / "outputs", cell_timeout=60,
                        default_backend=backend, _env_file=None, **extra)
    runtime = Runtime(settings)
    set_default_runtime(runtime)
    return runtime


@pytest.fixture(params=["local", "modal"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    extra: dict[str, object] = {}
    containers = None
    if request.param == "modal":
        fake_modal.reset(tmp_path / "fake-modal")
        monkeypatch.setattr(modal_backend, "load_sdk", lambda: fake_modal)
        containers = Path(tempfile.mkdtemp(prefix="seerfm-"))
        extra["modal_root"] = str(containers / "{sandbox_id}")
    made = make_runtime(tmp_path, request.param, **extra)
    yield made
    made.close()
    set_default_runtime(None)
    if request.param == "modal":
        fake_modal.terminate_all()
    if containers is not None:
        shutil.rmtree(containers, ignore_errors=True)


@pytest.fixture
def local_runtime(tmp_path: Path) -> Iterator[Runtime]:
    made = make_runtime(tmp_path)
    yield made
    made.close()
    set_default_runtime(None)
