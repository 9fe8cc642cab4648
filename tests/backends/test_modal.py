"""What only the Modal backend does: the image, the create call, volumes, secrets, errors, re-attach.

The backend talks to `tests.fake_modal`, whose containers are local processes
running the real sandbox agent; `test_live_modal` runs against Modal itself
when credentials exist.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import huggingface_hub
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

import seer_mcp.backends.modal_backend as modal_backend
from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests import fake_modal
from tests.conftest import output_of
from tests.toolkit.conftest import build_tokenizer, tiny_llama

pytestmark = pytest.mark.slow

SECRET_REPO = "acme-org/SECRETMODEL-7b"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def containers() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="seerfm-"))  # short: kernels put Unix sockets under it
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def modal_settings(tmp_path: Path, containers: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    fake_modal.reset(tmp_path / "fake-modal")
    monkeypatch.setattr(modal_backend, "load_sdk", lambda: fake_modal)
    monkeypatch.chdir(tmp_path)  # no stray .env
    yield Settings(state_dir=tmp_path / "state", outputs_dir=tmp_path / "outputs", cell_timeout=60,
                   default_backend="modal", modal_root=str(containers / "{sandbox_id}"), _env_file=None)
    fake_modal.terminate_all()


@pytest.fixture
async def client(modal_settings: Settings) -> AsyncIterator[Client]:
    async with Client(build_server(modal_settings)) as mcp_client:
        yield mcp_client


def agent_call() -> fake_modal.CreateCall:
    return next(c for c in reversed(fake_modal.CREATED) if "seer_mcp.agent" in c.args)


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A tiny Llama in a Hugging Face cache, served offline to the download job (a child process)."""
    cache = tmp_path / "hub"
    repo = cache / f"models--{SECRET_REPO.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    model = tiny_llama()
    model.config._name_or_path = SECRET_REPO
    model.save_pretrained(snapshot)
    build_tokenizer().save_pretrained(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return SECRET_REPO


async def test_the_image_is_built_from_the_spec_field_by_field(client: Client) -> None:
    await client.call_tool("create_sandbox", {
        "python_version": "3.12", "system_packages": ["graphviz"], "python_packages": ["einops==0.8.0"],
        "repos": [{"url": "nickjiang2378/interp_embed", "install": "pip install -e ."},
                  {"url": "https://example.org/tools.git", "name": "tools"}]})
    image = agent_call().kwargs["image"]
    steps = [(name, args, kwargs) for name, args, kwargs in image.steps]
    assert steps[0] == ("debian_slim", (), {"python_version": "3.12"})
    assert steps[1] == ("apt_install", ("graphviz", "git"), {})
    assert steps[2][0] == "pip_install" and any(r.startswith("fastmcp") for r in steps[2][1])
    assert any(r.startswith("torch") for r in steps[2][1])  # the agent and the toolkit run inside
    assert steps[3] == ("pip_install", ("einops==0.8.0",), {})
    workspace = agent_call().kwargs["workdir"]
    assert steps[4] == ("run_commands", (
        f"git clone --depth 1 https://github.com/nickjiang2378/interp_embed.git {workspace}/interp_embed",
        f"cd {workspace}/interp_embed && pip install -e ."), {})
    assert steps[5] == ("run_commands", (f"git clone --depth 1 https://example.org/tools.git {workspace}/tools",), {})
    assert steps[6] == ("add_local_python_source", ("seer_mcp", "toolkit"), {"copy": False})
    assert len(steps) == 7


async def test_a_repo_dockerfile_becomes_the_base_image(client: Client, tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\n")
    await client.call_tool("create_sandbox", {"repos": [{"url": "org/repo", "dockerfile": str(dockerfile)}]})
    first = agent_call().kwargs["image"].steps[0]
    assert first[0] == "from_dockerfile" and first[1] == (str(dockerfile),)


async def test_the_create_call_carries_gpu_limits_ports_and_the_token_as_a_secret(client: Client) -> None:
    created = await client.call_tool("create_sandbox", {"gpu": "a100", "gpu_count": 2, "timeout": 1200,
                                                        "idle_timeout": 300, "env": {"MODE": "probe"}})
    call = agent_call()
    assert call.kwargs["gpu"] == "A100:2" and call.kwargs["timeout"] == 1200 and call.kwargs["idle_timeout"] == 300
    assert call.kwargs["encrypted_ports"] == [modal_backend.AGENT_PORT]
    assert call.kwargs["env"]["MODE"] == "probe" and call.kwargs["name"] == created.structured_content["sandbox_id"]
    assert call.args[:3] == ("python", "-m", "seer_mcp.agent") and "--port" in call.args
    secret_values = [s.resolve() for s in call.kwargs["secrets"]]
    token = next(v["SEER_AGENT_TOKEN"] for v in secret_values if "SEER_AGENT_TOKEN" in v)
    assert token and not any(token in arg for arg in call.args) and token not in json.dumps(call.kwargs["env"])
    assert created.structured_content["backend"] == "modal" and created.structured_content["gpu"] == "A100"


async def test_secrets_come_from_the_environment_or_from_modal(client: Client, modal_settings: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    modal_settings.agent_secrets = ["OPENAI_API_KEY", "huggingface-secret", "missing-secret"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-value")
    fake_modal.FAKE_SECRETS["huggingface-secret"] = {"HF_TOKEN": "hf_remote"}
    await client.call_tool("create_sandbox", {"secrets": ["OPENAI_API_KEY", "huggingface-secret"]})
    await client.call_tool("start_session", {})
    result = await client.call_tool("execute_code", {
        "code": "import os; print(os.environ['OPENAI_API_KEY'], os.environ['HF_TOKEN'])"})
    assert output_of(result).strip() == "sk-local-value hf_remote"
    with pytest.raises(ToolError, match="modal secret create"):
        await client.call_tool("create_sandbox", {"secrets": ["missing-secret"]})
    with pytest.raises(ToolError, match="SEER_AGENT_SECRETS"):
        await client.call_tool("create_sandbox", {"secrets": ["AWS_SECRET_ACCESS_KEY"]})


@pytest.mark.parametrize(("error", "words"), [
    (lambda e: e.AuthError("token missing"), "modal token new"),
    (lambda e: e.ResourceExhaustedError("no H100 available"), "another GPU type"),
    (lambda e: e.ImageBuildError("apt failed"), "building the sandbox's image failed"),
])
async def test_modal_failures_say_what_to_do_and_leave_nothing_running(client: Client, error: Any,
                                                                       words: str) -> None:
    fake_modal.FAIL_NEXT_CREATE.append(error(fake_modal.exception))
    with pytest.raises(ToolError, match=words):
        await client.call_tool("create_sandbox", {"gpu": "H100"})
    assert (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"] == []


async def test_without_credentials_the_real_sdk_is_not_called(client: Client, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    import modal

    monkeypatch.setattr(modal_backend, "load_sdk", lambda: modal)
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-such.toml"))
    with pytest.raises(ToolError, match="no Modal credentials: run `modal token new`"):
        await client.call_tool("create_sandbox", {})


async def test_a_model_is_fetched_once_into_its_volume_and_preloaded(client: Client, hub_cache: str) -> None:
    created = await client.call_tool("create_sandbox", {"models": [{"name": hub_cache}]})
    assert created.structured_content["models"][0]["name"] == hub_cache
    fetches = [c for c in fake_modal.CREATED if "seer_mcp.backends.modal_fetch" in c.args]
    assert len(fetches) == 1
    mount, volume = next(iter(agent_call().kwargs["volumes"].items()))
    assert volume.is_read_only and (volume.path / ".seer-complete").is_file()
    session = (await client.call_tool("start_session", {})).structured_content
    assert "4 layers" in session["model_info"]
    result = await client.call_tool("execute_code", {"code": "print(type(model).__name__, model.name_or_path)"})
    assert output_of(result).strip() == f"LlamaForCausalLM {mount}"
    # A second sandbox finds the volume complete: the job exits at once, nothing is downloaded again.
    (volume.path / "config.json").touch()
    before = (volume.path / "config.json").stat().st_mtime_ns
    await client.call_tool("create_sandbox", {"models": [{"name": hub_cache}]})
    assert (volume.path / "config.json").stat().st_mtime_ns == before


async def test_an_interrupted_download_is_resumed_not_trusted(client: Client, hub_cache: str) -> None:
    volume = fake_modal.Volume.from_name(modal_backend._volume_name("model", f"{hub_cache}@main"),
                                         create_if_missing=True)
    partial = volume.path
    partial.mkdir(parents=True, exist_ok=True)
    (partial / "config.json").write_text("{truncated")  # what an interrupted job leaves: no marker
    await client.call_tool("create_sandbox", {"models": [{"name": hub_cache}]})
    assert json.loads((partial / "config.json").read_text())["hidden_size"] == 64
    assert (partial / ".seer-complete").is_file()


async def test_a_hidden_model_is_mounted_under_an_opaque_path_with_its_names_scrubbed(client: Client,
                                                                                     hub_cache: str) -> None:
    created = await client.call_tool("create_sandbox", {"models": [{"name": hub_cache, "hidden": True}]})
    session = await client.call_tool("start_session", {})
    probe = await client.call_tool("execute_code", {"code": (
        "import os, json\n"
        "blob = model.config.to_json_string() + repr(tokenizer) + json.dumps(dict(os.environ))\n"
        "for root, _, files in os.walk(model.name_or_path):\n"
        "    for f in files:\n"
        "        if not f.endswith('.safetensors'):\n"
        "            blob += open(os.path.join(root, f), errors='replace').read()\n"
        "print(model.name_or_path.endswith('/models/model_0'), ('SECRET' + 'MODEL') in blob)")})
    assert output_of(probe).strip() == "True False"
    seen = json.dumps(created.structured_content) + json.dumps(session.structured_content)
    assert "SECRETMODEL" not in seen and "<hidden>" in seen


async def test_the_server_reattaches_after_a_restart_and_stops_expired_sandboxes(modal_settings: Settings) -> None:
    modal_settings.terminate_on_exit = False
    async with Client(build_server(modal_settings)) as client:
        kept = (await client.call_tool("create_sandbox", {})).structured_content["sandbox_id"]
        expiring = await client.call_tool("create_sandbox", {"timeout": 15})
        await client.call_tool("start_session", {"sandbox_id": kept})
        await client.call_tool("execute_code", {"code": "x = 7"})
    await asyncio.sleep(max(0.0, expiring.structured_content["expires_in_s"] - 1) + 1.5)
    async with Client(build_server(modal_settings)) as client:
        listed = {s["sandbox_id"] for s in (await client.call_tool("list_sandboxes", {})).structured_content[
            "sandboxes"]}
        assert listed == {kept}
        assert output_of(await client.call_tool("execute_code", {"code": "print(x)"})).strip() == "7"
        await client.call_tool("terminate_sandbox", {"sandbox_id": kept})
    # Both Modal sandboxes are gone: the expired one was terminated when the server came back.
    assert all(box.poll() is not None for box in fake_modal._SANDBOXES.values())


async def test_debug_gives_a_jupyterlab_link_behind_a_token(client: Client) -> None:
    created = (await client.call_tool("create_sandbox", {"debug": True})).structured_content
    url = created["debug_url"]
    assert "/lab?token=" in url and modal_backend.DEBUG_PORT in agent_call().kwargs["encrypted_ports"]
    token = url.split("token=", 1)[1]
    assert not any(token in arg for arg in agent_call().args)
    async with httpx.AsyncClient() as http:
        for _ in range(120):
            try:
                with_token = await http.get(url)
                break
            except httpx.TransportError:
                await asyncio.sleep(0.5)
        assert with_token.status_code == 200
    async with httpx.AsyncClient() as fresh:  # no login cookie from the request above
        without = await fresh.get(url.split("?", 1)[0])
        assert without.status_code in (302, 403) and "login" in without.headers.get("location", "login")


@pytest.mark.skipif(modal_backend.modal_credentials_problem() is not None,
                    reason="no Modal credentials here (MODAL_TOKEN_ID/MODAL_TOKEN_SECRET or ~/.modal.toml): "
                           "the live Modal test runs only where they exist")
async def test_live_modal(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", outputs_dir=tmp_path / "outputs", _env_file=None)
    async with Client(build_server(settings)) as client:
        sandbox = (await client.call_tool("create_sandbox", {"backend": "modal", "timeout": 600})).structured_content
        try:
            await client.call_tool("start_session", {})
            result = await client.call_tool("execute_code", {"code": "import sys; print(sys.version_info[0])"})
            assert output_of(result).strip() == "3"
        finally:
            await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox["sandbox_id"]})


def test_the_live_test_skip_names_its_reason() -> None:
    problem = modal_backend.modal_credentials_problem()
    if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
        assert problem is None
    else:
        assert problem is None or "modal token new" in problem


async def test_seer_mcp_ls_and_stop_cover_modal_sandboxes(modal_settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from seer_mcp import cli

    modal_settings.terminate_on_exit = False
    async with Client(build_server(modal_settings)) as client:
        sandbox_id = (await client.call_tool("create_sandbox", {"gpu": "L4"})).structured_content["sandbox_id"]
    box = next(iter(fake_modal._SANDBOXES.values()))
    for name, value in (("SEER_STATE_DIR", modal_settings.state_dir), ("SEER_MODAL_ROOT", modal_settings.modal_root),
                        ("SEER_OUTPUTS_DIR", modal_settings.outputs_dir)):
        monkeypatch.setenv(name, str(value))

    def run(*argv: str) -> int:
        with pytest.raises(SystemExit) as done:
            cli.main(list(argv))
        return done.value.code

    assert await asyncio.to_thread(run, "ls") == 0
    listing = capsys.readouterr().out
    assert sandbox_id in listing and "modal" in listing and "L4" in listing
    assert box.poll() is None
    assert await asyncio.to_thread(run, "stop", sandbox_id) == 0
    assert box.poll() is not None


async def test_progress_is_reported_while_fetching_models_and_starting(modal_settings: Settings,
                                                                       hub_cache: str) -> None:
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with Client(build_server(modal_settings), progress_handler=on_progress) as client:
        await client.call_tool("create_sandbox", {"models": [{"name": hub_cache, "hidden": True}]})
    text = "\n".join(messages)
    assert "fetching <hidden model> into its Modal volume" in text
    assert "starting the Modal sandbox" in text and "waiting for the sandbox agent" in text
    assert "SECRETMODEL" not in text
