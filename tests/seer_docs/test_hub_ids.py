"""A kernel names a sandbox's configured model by its Hub id, as Seer's code does, and sees no other model."""

from __future__ import annotations

from pathlib import Path

import pytest

from seer_mcp import ModelConfig, Sandbox, SandboxConfig, create_notebook_session
from seer_mcp.api import Runtime

pytestmark = pytest.mark.slow


def test_a_configured_model_loads_by_its_hub_id_and_a_hidden_one_does_not(seer_runtime: Runtime,
                                                                         hub_cache: Path) -> None:
    sandbox = Sandbox(SandboxConfig(models=[ModelConfig(name="google/gemma-2-9b"),
                                            ModelConfig(name="bcywinski/gemma-2-9b-it-user-female", base_model="google/gemma-2-9b-it", is_peft=True,
                                                        hidden=True, var_name="secret")])).start()
    try:
        session = create_notebook_session(sandbox)
        loaded = session.exec("from transformers import AutoModelForCausalLM as M\n"
                              "print(type(M.from_pretrained('google/gemma-2-9b')).__name__)")
        assert loaded.strip().endswith("LlamaForCausalLM")  # after the weights' progress bar
        # The cache inside holds the plain model's repo only: not the hidden adapter, not its base, nothing else.
        listed = session.exec("import os; print(sorted(os.listdir(os.environ['HF_HUB_CACHE'])))")
        assert listed.strip() == "['models--google--gemma-2-9b']"
    finally:
        sandbox.terminate()
