"""Every shipped experiment config loads, and sets up on the local backend with a tiny model swapped in."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from fastmcp import Client
from peft import LoraConfig, get_peft_model

from seer_mcp.backends.local import missing_requirements
from seer_mcp.experiments.config import TOOL_GROUPS, ExperimentConfig
from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from seer_mcp.spec import ModelSpec
from tests.conftest import PYTHON, REPO, fields_of, output_of, server_env
from tests.toolkit.conftest import build_tokenizer, tiny_llama

CONFIGS = sorted((REPO / "configs").glob("*.toml"))
SHIPPED = {"sandbox-intro", "scoped-sandbox-intro", "hidden-preference", "introspection", "checkpoint-diffing",
           "petri-style", "api-investigation", "kimi-investigation"}
SECRETS = {"HF_TOKEN": "hf_test", "OPENROUTER_API_KEY": "sk-test", "GEMINI_API_KEY": "g-test",
           "OPENAI_API_KEY": "sk-test", "TARGET_API_KEY": "t-test"}


def test_every_shipped_experiment_has_a_config() -> None:
    assert {path.stem for path in CONFIGS} >= SHIPPED


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_a_config_loads_with_its_task(path: Path) -> None:
    config = ExperimentConfig.load(path)
    assert config.experiment.name == path.stem
    assert len(config.task_prompt) > 200  # a real task, not a placeholder
    assert "create_sandbox" not in config.allowed_tools()
    for interface in config.interfaces:
        assert Path(interface.path).is_file()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny")
    base, adapter = root / "base", root / "adapter"
    tiny_llama().save_pretrained(base)
    build_tokenizer().save_pretrained(base)
    lora = get_peft_model(tiny_llama(), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.peft_config["default"].base_model_name_or_path = str(base)
    lora.save_pretrained(adapter)
    return base, adapter


def on_this_machine(config: ExperimentConfig, tiny: tuple[Path, Path]) -> ExperimentConfig:
    """The config as a dry run on the local backend: tiny models, no GPU, no clones, installed packages only."""
    base, adapter = tiny
    models = [ModelSpec(**{**m.model_dump(), "name": str(adapter if m.is_peft else base),
                           "base_model": str(base) if m.is_peft else None, "dtype": "auto"})
              for m in config.sandbox.models]
    sandbox = config.sandbox.model_copy(update={
        "backend": "local", "gpu": None, "gpu_count": 1, "repos": [], "system_packages": [], "models": models,
        "python_packages": [p for p in config.sandbox.python_packages if not missing_requirements([p])]})
    return config.model_copy(update={"sandbox": sandbox})


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
async def test_a_config_sets_up_on_the_local_backend(path: Path, tiny: tuple[Path, Path], settings: Settings,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    config = on_this_machine(ExperimentConfig.load(path), tiny)
    async with Client(build_server(settings, experiment=config)) as client:
        tools = {tool.name for tool in await client.list_tools()}
        instructions = client.instructions or ""
        assert f"experiment {config.experiment.name!r}" in instructions
        if "cells" in (config.agent.tools or []):
            assert set(TOOL_GROUPS["cells"]) <= tools and "create_sandbox" not in tools
            probe = "print(2 + 2" + (", type(model).__name__)" if config.sandbox.models else ")")
            probed = await client.call_tool("execute_code", {"code": probe})
            assert output_of(probed).startswith("4") and fields_of(probed)["status"] == "ok"
        for interface in config.interfaces:
            assert any(name.startswith(f"{interface.name}_") for name in tools), tools
            assert f"interface {interface.name!r}" in instructions
        if any(m.hidden for m in config.sandbox.models):
            assert "<hidden>" in instructions and "bcywinski" not in instructions


@pytest.mark.slow
def test_seer_mcp_run_dry_run_prints_tools_and_prompt(settings: Settings) -> None:
    env = {**server_env(settings), "TARGET_API_KEY": "t-test"}
    done = subprocess.run([PYTHON, "-m", "seer_mcp", "run", str(REPO / "configs" / "petri-style.toml"), "--dry-run"],
                          capture_output=True, text=True, env=env, timeout=180, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "## tools the agent gets" in out and "- target_send_message:" in out and "- call_interface:" in out
    assert "create_sandbox" not in out
    assert "You are an auditor." in out and "provisioned, then stopped" in out
    # Stopping the server terminated the experiment's sandbox.
    assert not [line for line in os.popen("ps -eo args").read().splitlines()
                if "seer_mcp.agent" in line and str(settings.state_dir) in line]


def test_a_bad_config_fails_run_with_the_field_named(tmp_path: Path, settings: Settings) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[experiment]\nname = "bad"\n[sandbox]\ngpu = "V100"\n')
    done = subprocess.run([PYTHON, "-m", "seer_mcp", "run", str(bad), "--dry-run"], capture_output=True, text=True,
                          env=server_env(settings), timeout=60)
    assert done.returncode == 2 and "sandbox.gpu" in done.stderr and "V100" in done.stderr
