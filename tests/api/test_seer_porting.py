"""What a Seer script does, as Seer's documentation writes it, works here or is refused in one line that says what
to change (issue: "a Seer script ports by changing its imports")."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

import seer_mcp.backends.modal_backend as modal_backend
from seer_mcp import (
    Library,
    LocalSession,
    Sandbox,
    SandboxConfig,
    Workspace,
    create_cli_session,
    create_local_notebook_session,
)
from seer_mcp.api import Runtime, set_default_runtime
from seer_mcp.errors import InvalidRequest, SeerError
from tests import fake_modal
from tests.api.conftest import make_runtime
from tests.conftest import tiny_package, write_files

pytestmark = pytest.mark.slow


def test_a_gpu_asked_for_without_modal_credentials_says_how_to_get_them(local_runtime: Runtime,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    import modal

    monkeypatch.setattr(modal_backend, "load_sdk", lambda: modal)
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-such.toml"))
    with pytest.raises(SeerError, match="no Modal credentials: run `modal token new`") as raised:
        Sandbox(SandboxConfig(gpu="A100")).start()
    assert "local backend" not in str(raised.value)
    assert local_runtime.manager.list_sandboxes() == []


def test_a_backend_named_in_the_config_is_kept_even_with_a_gpu(local_runtime: Runtime) -> None:
    with pytest.raises(InvalidRequest, match="the local backend cannot provide a A100 GPU"):
        Sandbox(SandboxConfig(backend="local", gpu="A100")).start()


def test_the_operators_default_backend_is_the_python_apis_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_modal.reset(tmp_path / "fake-modal")
    monkeypatch.setattr(modal_backend, "load_sdk", lambda: fake_modal)
    containers = Path(tempfile.mkdtemp(prefix="seerfm-"))
    runtime = make_runtime(tmp_path, "modal", modal_root=str(containers / "{sandbox_id}"))
    try:
        sandbox = Sandbox(SandboxConfig()).start()
        assert sandbox.info is not None and sandbox.info["backend"] == "modal"
        assert fake_modal.CREATED, "the sandbox was started through the Modal SDK"
        sandbox.terminate()
    finally:
        runtime.close()
        set_default_runtime(None)
        fake_modal.terminate_all()
        shutil.rmtree(containers, ignore_errors=True)


def test_a_modal_secrets_name_reaches_a_local_sandbox_as_the_variables_it_stands_for(
        local_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_the_operator")
    sandbox = Sandbox(SandboxConfig(secrets=["huggingface-secret"])).start()
    assert sandbox.exec("echo $HF_TOKEN").strip() == "hf_from_the_operator"
    sandbox.terminate()


def test_an_unknown_modal_secret_name_is_refused_locally_with_what_to_do(local_runtime: Runtime) -> None:
    with pytest.raises(InvalidRequest, match="SEER_LOCAL_SECRETS") as raised:
        Sandbox(SandboxConfig(secrets=["openrouter-secret"])).start()
    assert "\n" not in str(raised.value)
    assert local_runtime.manager.list_sandboxes() == []


def test_a_missing_variable_of_a_modal_secret_is_named(local_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(InvalidRequest, match=r"HF_TOKEN \(of huggingface-secret\)"):
        Sandbox(SandboxConfig(secrets=["huggingface-secret"])).start()


def test_a_sandbox_from_a_snapshot_is_running_as_seer_returns_it(local_runtime: Runtime) -> None:
    sandbox = Sandbox(SandboxConfig()).start()
    sandbox.write_file("/workspace/notes.txt", "kept")
    snapshot = sandbox.snapshot("after setup")
    restored = Sandbox.from_snapshot(snapshot, sandbox.config)
    assert restored.exec("cat notes.txt").strip() == "kept"
    assert restored.start() is restored and restored.sandbox_id != sandbox.sandbox_id  # start() does nothing more
    restored.terminate()
    sandbox.terminate()


def test_exec_python_may_use_torch_without_importing_it(local_runtime: Runtime) -> None:
    sandbox = Sandbox(SandboxConfig()).start()
    assert sandbox.exec_python("print(torch.cuda.is_available())").strip() == "False"
    assert sandbox.exec_python("import math\nprint(math.floor(2.5))").strip() == "2"
    assert "NameError" in sandbox.exec_python("print(pandas_is_not_implied)")
    sandbox.terminate()


def test_create_cli_session_with_a_workspace_first_is_an_agent_working_in_that_folder(tmp_path: Path) -> None:
    helper = tmp_path / "helpers.py"
    helper.write_text('"""Helpers."""\n\ndef double(x: int) -> int:\n    """Twice x."""\n    return 2 * x\n')
    from seer_mcp import Library

    session = create_cli_session(Workspace(libraries=[Library.from_file(helper)]), tmp_path / "work")
    assert isinstance(session, LocalSession)
    assert (tmp_path / "work" / "helpers.py").is_file() and session.mcp_config == {}


def test_create_cli_session_refuses_a_second_argument_that_is_not_a_workspace(local_runtime: Runtime) -> None:
    sandbox = Sandbox(SandboxConfig())
    with pytest.raises(TypeError, match="workspace must be a Workspace"):
        create_cli_session(sandbox, "./somewhere")


def test_a_local_notebook_session_installs_its_python_packages(local_runtime: Runtime, tmp_path: Path) -> None:
    package = write_files(tmp_path / "tinypkg", tiny_package("seer_porting_pkg"))
    session = create_local_notebook_session(output_dir=tmp_path / "outputs", python_packages=[str(package)])
    assert session.exec("import seer_porting_pkg\nprint(seer_porting_pkg.ANSWER)").strip() == "42"
    session.terminate()


def test_a_local_notebook_gets_only_the_variables_its_libraries_read(local_runtime: Runtime, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEER_PORTING_READ_KEY", "sk-read")
    monkeypatch.setenv("SEER_PORTING_OTHER_KEY", "sk-other")
    library = Library.from_code("reader", "import os\nKEY = os.environ.get('SEER_PORTING_READ_KEY')\n"
                                          "MISSING = os.getenv('SEER_PORTING_UNSET_KEY')\n")
    probe = "import os\nprint(sorted(k for k in os.environ if k.startswith('SEER_PORTING')), reader.KEY)"
    session = create_local_notebook_session(Workspace(libraries=[library]), output_dir=tmp_path / "a")
    assert session.exec(probe).strip() == "['SEER_PORTING_READ_KEY'] sk-read"
    session.terminate()
    session = create_local_notebook_session(Workspace(libraries=[library]), output_dir=tmp_path / "b", secrets=[])
    assert session.exec(probe).strip() == "[] None"  # secrets=[]: none
    session.terminate()
