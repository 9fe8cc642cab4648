"""An offline Hugging Face cache holding tiny models under Seer's real model ids, and a runtime that reads it.

Seer's examples name Hub models (`google/gemma-2-9b`, a PEFT adapter `bcywinski/gemma-2-9b-it-user-female` on
`google/gemma-2-9b-it`, ...). The cache puts a tiny random Llama (16 layers, so the examples' `layer_idx=15`
exists) under each id, as `snapshot_download` lays a repo out (`models--ORG--NAME/snapshots/COMMIT`,
`refs/main`); with `HF_HUB_OFFLINE=1` the server resolves the ids from it and never reaches the Hub.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from seer_mcp.api import Runtime, set_default_runtime
from tests.api.conftest import make_runtime
from tests.harness.conftest import FakeMessagesAPI, isolate_claude_cli
from tests.harness.conftest import fake_api  # noqa: F401 - a fixture, for the examples whose agent runs
from tests.toolkit.conftest import VOCAB, build_tokenizer

COMMIT = "0123456789abcdef0123456789abcdef01234567"
BASE_MODELS = ("google/gemma-2-9b", "google/gemma-2-9b-it", "google/gemma-2-2b-it", "google/gemma-3-27b-it")
ADAPTER = "bcywinski/gemma-2-9b-it-user-female"
ADAPTER_BASE = "google/gemma-2-9b-it"
LAYERS = 16
HIDDEN = 32


def tiny_deep_llama(seed: int = 0) -> LlamaForCausalLM:
    """tests/toolkit's tiny Llama, narrower and with 16 layers."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=64, max_position_embeddings=128,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2, initializer_range=0.1)
    return LlamaForCausalLM(config).eval()


def snapshot_dir(cache: Path, repo_id: str) -> Path:
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return repo / "snapshots" / COMMIT


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per module: every id the examples name, offline."""
    cache = tmp_path_factory.mktemp("hub")
    tokenizer = build_tokenizer()
    for seed, repo_id in enumerate(BASE_MODELS):
        model = tiny_deep_llama(seed)
        model.config._name_or_path = repo_id
        model.save_pretrained(snapshot_dir(cache, repo_id))
        tokenizer.save_pretrained(snapshot_dir(cache, repo_id))
    adapter = get_peft_model(tiny_deep_llama(BASE_MODELS.index(ADAPTER_BASE)),
                             LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter.peft_config["default"].base_model_name_or_path = ADAPTER_BASE
    adapter.save_pretrained(snapshot_dir(cache, ADAPTER))
    return cache


@pytest.fixture
def offline_hub(hub_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process (the server, which fetches models) reads the cache, offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache))
    return hub_cache


@pytest.fixture
def experiment_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a Seer experiment's main.py runs: its cwd, holding the files its code names."""
    folder = tmp_path / "experiment"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def start_runtime(tmp_path: Path, **extra: object) -> Runtime:
    # HF_HUB_OFFLINE reaches every sandbox too: nothing a kernel does may reach the real Hub.
    passthrough = ["HF_HUB_OFFLINE", *extra.pop("sandbox_env_passthrough", [])]  # type: ignore[misc]
    return make_runtime(tmp_path, sandbox_env_passthrough=passthrough, **extra)


@pytest.fixture
def seer_runtime(offline_hub: Path, experiment_dir: Path, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The default runtime for the examples' API objects: the local backend, models from the offline cache."""
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_huggingface_secret")
    runtime = start_runtime(tmp_path)
    yield runtime
    runtime.close()
    set_default_runtime(None)


def copy_file(source: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    return dest


@pytest.fixture
def claude_cli(fake_api: FakeMessagesAPI, monkeypatch: pytest.MonkeyPatch,  # noqa: F811 - the fixture
               tmp_path: Path) -> FakeMessagesAPI:
    """The SDK's claude CLI, on a throwaway home, talking to the scripted fake Messages API."""
    isolate_claude_cli(monkeypatch, tmp_path)
    return fake_api
