"""Models in sandboxes: specs, the cache, preloading in sessions, and hidden models that stay hidden."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import huggingface_hub.constants
import pytest
from fastmcp import Client
from peft import LoraConfig, get_peft_model
from pydantic import ValidationError

from seer_mcp.errors import InvalidRequest
from seer_mcp.models import ModelCache, _snapshot_download, reporting_tqdm
from seer_mcp.settings import Settings
from seer_mcp.spec import ModelSpec, SandboxSpec
from tests.conftest import fields_of, output_of, text_of
from tests.toolkit.conftest import build_tokenizer, tiny_llama

SECRET_BASE = "acme-SECRETBASE-7b"
SECRET_ADAPTER = "acme-SECRETADAPTER-lora"


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny Llama and a LoRA adapter on it, saved under names that must never leak."""
    root = tmp_path_factory.mktemp("models")
    base_dir, adapter_dir = root / SECRET_BASE, root / SECRET_ADAPTER
    base = tiny_llama()
    base.config._name_or_path = str(base_dir)
    base.save_pretrained(base_dir)
    build_tokenizer().save_pretrained(base_dir)
    peft_model = get_peft_model(tiny_llama(), LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                         init_lora_weights=False))
    peft_model.peft_config["default"].base_model_name_or_path = str(base_dir)
    peft_model.save_pretrained(adapter_dir)
    build_tokenizer().save_pretrained(adapter_dir)
    return base_dir, adapter_dir


def test_download_progress_is_reported_in_bytes() -> None:
    seen: list[tuple[float, float | None, str]] = []
    bar_class = reporting_tqdm(lambda done, total, message: seen.append((done, total, message)), min_gap_s=0)
    bar = bar_class(total=4_000_000, unit="B", desc="Downloading bytes", name="huggingface_hub.snapshot_download")
    bar.update(1_000_000)
    bar.update(3_000_000)
    bar.close()
    assert seen[-1] == (4_000_000, 4_000_000, "4.0 of 4.0 MB")


async def test_an_unknown_repo_is_an_error_that_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub.errors import RepositoryNotFoundError

    def not_found(*args: object, **kwargs: object) -> str:
        request = httpx.Request("GET", "https://huggingface.co/api/models/nobody/missing")
        raise RepositoryNotFoundError("404 Client Error: Repository Not Found",
                                      response=httpx.Response(404, request=request))

    monkeypatch.setattr("huggingface_hub.snapshot_download", not_found)
    with pytest.raises(InvalidRequest, match="'nobody/missing' was not found"):
        _snapshot_download("nobody/missing", None)


def test_a_peft_spec_without_its_base_is_refused() -> None:
    with pytest.raises(ValidationError, match="base_model"):
        ModelSpec(name="org/adapter", is_peft=True)


def test_two_models_may_not_share_a_variable() -> None:
    with pytest.raises(ValidationError, match="distinct var_name"):
        SandboxSpec(models=[{"name": "a/b"}, {"name": "c/d"}])


async def test_a_cached_snapshot_is_used_without_fetching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr("seer_mcp.models._snapshot_download",
                        lambda repo, rev, bars=None: calls.append(repo) or (tmp_path / "snap"))
    (tmp_path / "snap").mkdir()
    cache = ModelCache(tmp_path / "markers")
    assert await cache.fetch("org/model", None) == tmp_path / "snap"
    assert await cache.fetch("org/model", None) == tmp_path / "snap"
    assert calls == ["org/model"]


async def test_an_interrupted_download_is_not_taken_as_complete(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[int] = []

    def flaky(repo: str, rev: str | None, bars: object = None) -> Path:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("connection reset mid-file")
        (tmp_path / "snap").mkdir(exist_ok=True)
        return tmp_path / "snap"

    monkeypatch.setattr("seer_mcp.models._snapshot_download", flaky)
    cache = ModelCache(tmp_path / "markers")
    with pytest.raises(OSError):
        await cache.fetch("org/model", None)
    assert await cache.fetch("org/model", None) == tmp_path / "snap"
    assert len(attempts) == 2


async def test_offline_with_nothing_cached_fails_at_once_with_a_clear_error(
        client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    result = await client.call_tool("create_sandbox", {"models": [{"name": "nobody/no-such-model"}]},
                                    raise_on_error=False)
    assert result.is_error
    assert "nobody/no-such-model" in text_of(result) and "offline" in text_of(result)


async def test_a_missing_local_model_directory_is_named(client: Client) -> None:
    result = await client.call_tool("create_sandbox", {"models": [{"name": "/nonexistent/model-dir"}]},
                                    raise_on_error=False)
    assert result.is_error
    assert "/nonexistent/model-dir" in text_of(result)


@pytest.mark.slow
async def test_a_model_is_preloaded_in_every_session_and_described(client: Client,
                                                                   model_dirs: tuple[Path, Path]) -> None:
    base_dir, _ = model_dirs
    created = await client.call_tool("create_sandbox", {"models": [{"name": str(base_dir)}]})
    assert created.structured_content["models"][0]["var_name"] == "model"
    session = (await client.call_tool("start_session", {})).structured_content
    info = session["model_info"]
    assert "`model`" in info and "4 layers" in info and "hidden size 64" in info and "tokenizer `tokenizer`" in info
    result = await client.call_tool("execute_code", {
        "code": "import toolkit\nprint(type(model).__name__, toolkit.num_layers(model), len(tokenizer('the cat').input_ids))"})
    assert output_of(result).strip() == "LlamaForCausalLM 4 3"
    page = await client.call_tool("read_notebook", {})
    assert fields_of(page)["total_cells"] == 1  # the loading code stayed out of the notebook
    resource = await client.read_resource(f"seer://sessions/{session['session_id']}/model-info")
    assert "hidden size 64" in resource[0].text


@pytest.mark.slow
async def test_a_hidden_peft_model_never_reveals_its_name(client: Client, settings: Settings,
                                                          model_dirs: tuple[Path, Path]) -> None:
    base_dir, adapter_dir = model_dirs
    results = []
    results.append(await client.call_tool("create_sandbox", {"models": [{
        "name": str(adapter_dir), "is_peft": True, "base_model": str(base_dir), "hidden": True}]}))
    results.append(await client.call_tool("start_session", {}))
    assert "<hidden>" in results[-1].structured_content["model_info"]
    probe = (
        "import os, json\n"
        "seen = [repr(v) for k, v in list(globals().items()) if not k.startswith('_')]\n"
        "seen.append(model.config.to_json_string())\n"
        "seen.append(json.dumps(model.get_base_model().config.to_dict(), default=str))\n"
        "seen.append(repr(model.peft_config))\n"
        "seen.append(repr(tokenizer)); seen.append(json.dumps(tokenizer.init_kwargs, default=str))\n"
        "seen.append(str(getattr(model.generation_config, 'to_json_string', lambda: '')()))\n"
        "seen.append(json.dumps(dict(os.environ)))\n"
        "blob = '\\n'.join(seen)\n"
        "print(len(blob) > 1000, ('SEC' + 'RET') in blob)"  # the needle is not in the cell's own source
    )
    results.append(await client.call_tool("execute_code", {"code": probe}))
    assert output_of(results[-1]).strip() == "True False"
    results.append(await client.call_tool("execute_code", {
        "code": "print(model.peft_config['default'].base_model_name_or_path)"}))
    results.append(await client.call_tool("sandbox_exec", {"command": "env; ls -laR .."}))
    results.append(await client.call_tool("read_notebook", {}))
    results.append(await client.call_tool("list_sandboxes", {}))
    for result in results:
        dumped = json.dumps(result.structured_content) + json.dumps(result.meta) + text_of(result)
        assert "SECRET" not in dumped, dumped[:500]
    # Every file the sandbox holds, weights excepted, and the notebook copy.
    sandbox_root = Path(results[0].structured_content["workspace_path"]).parent
    notebook_copy = Path(results[1].structured_content["notebook_copy"])
    for path in [*sandbox_root.rglob("*"), notebook_copy]:
        if path.is_file() and not path.is_socket() and path.suffix not in {".safetensors", ".bin"}:
            assert b"SECRET" not in path.read_bytes(), path


@pytest.mark.slow
async def test_a_hidden_model_gives_the_same_answers_as_the_real_one(client: Client,
                                                                     model_dirs: tuple[Path, Path]) -> None:
    base_dir, adapter_dir = model_dirs
    await client.call_tool("create_sandbox", {"models": [
        {"name": str(adapter_dir), "is_peft": True, "base_model": str(base_dir), "hidden": True},
        {"name": str(adapter_dir), "is_peft": True, "base_model": str(base_dir), "var_name": "plain"}]})
    await client.call_tool("start_session", {})
    code = ("import torch\nids = tokenizer('the cat sat', return_tensors='pt').input_ids\n"
            "with torch.no_grad():\n    print(torch.equal(model(ids).logits, plain(ids).logits))")
    result = await client.call_tool("execute_code", {"code": code})
    assert output_of(result).strip() == "True"
    assert os.path.basename(str(base_dir)) == SECRET_BASE


@pytest.mark.slow
async def test_a_hub_model_in_the_local_cache_loads_offline(client: Client, model_dirs: tuple[Path, Path],
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same path a real download takes, served by huggingface_hub from its cache layout."""
    base_dir, _ = model_dirs
    cache = tmp_path / "hub"
    repo = cache / "models--tiny-org--tiny-llama"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for file in base_dir.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    # huggingface_hub reads these variables when imported; the server process would see them at start.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    created = await client.call_tool("create_sandbox", {"models": [{"name": "tiny-org/tiny-llama"}]})
    assert created.structured_content["models"][0]["name"] == "tiny-org/tiny-llama"
    session = (await client.call_tool("start_session", {})).structured_content
    assert "tiny-org/tiny-llama" in session["model_info"] and "4 layers" in session["model_info"]
