"""Fixtures for backend tests: the fake Modal SDK, and one MCP client per backend.

`backend_name` runs a test once per backend; `backend_settings` default to it,
and `backend` is an in-memory MCP client of a server built from them. The Modal
backend runs against `tests.fake_modal`, whose containers are local processes
running the real sandbox agent, so the same suite holds both.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastmcp import Client

from seer_mcp.backends import available_backends
from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests import fake_modal

BACKENDS = ["local", "modal"]


@pytest.fixture
def fake_sdk(tmp_path: Path) -> Iterator[ModuleType]:
    """The fake `modal` module, reset to empty registries under this test's tmp_path."""
    fake_modal.reset(tmp_path / "fake-modal")
    try:
        yield fake_modal
    finally:
        fake_modal.terminate_all()


def _modal_backend_or_skip() -> ModuleType:
    """The Modal backend module, or a skip that says what is missing."""
    try:
        module = importlib.import_module("seer_mcp.backends.modal_backend")
    except ImportError as exc:
        pytest.skip(f"seer_mcp.backends.modal_backend cannot be imported yet ({exc})")
    if "modal" not in available_backends():
        pytest.skip("the modal backend is not registered under the seer_mcp.backends entry point group "
                    "(add it to pyproject.toml, then `pip install -e .`)")
    if "modal_root" not in Settings.model_fields:
        pytest.skip("Settings has no modal_root field yet (the Modal backend's container root template)")
    return module


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    """Each backend in turn (a test that takes it runs once per backend); skips modal where it is not ready."""
    if request.param == "modal":
        _modal_backend_or_skip()
    return request.param


@pytest.fixture
def backend_settings(backend_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings whose default backend is the parametrized one; for modal, with the fake SDK in place."""
    extra: dict[str, str] = {}
    containers: Path | None = None
    if backend_name == "modal":
        modal_backend = _modal_backend_or_skip()
        fake_modal.reset(tmp_path / "fake-modal")
        monkeypatch.setattr(modal_backend, "load_sdk", lambda: fake_modal)
        # Each fake container's root gets a short path: kernels put AF_UNIX sockets (107 bytes at most)
        # under it, and pytest's tmp_path is long.
        containers = Path(tempfile.mkdtemp(prefix="seerfm-"))
        extra["modal_root"] = str(containers / "{sandbox_id}")
    try:
        yield Settings(state_dir=tmp_path / "state", outputs_dir=tmp_path / "outputs", cell_timeout=60,
                       default_backend=backend_name, _env_file=None, **extra)
    finally:
        if backend_name == "modal":
            fake_modal.terminate_all()  # the server leaves remote sandboxes running when it exits
        if containers is not None:
            shutil.rmtree(containers, ignore_errors=True)


@pytest.fixture
async def backend(backend_name: str, backend_settings: Settings) -> AsyncIterator[Client]:
    """An MCP client of a server whose create_sandbox uses the parametrized backend by default."""
    async with Client(build_server(backend_settings)) as client:
        yield client
    if backend_name == "modal":
        # Every conformance check creates a sandbox: none here means the backend never reached the fake.
        assert fake_modal.CREATED, "the modal backend made no Sandbox.create call through tests.fake_modal"
