"""interfaces/model_tools.py on a tiny random Llama: each exposed function agrees with the toolkit
(or plain transformers) run on an independently loaded copy of the model."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

import toolkit
from seer_mcp import interface

from .conftest import assert_well_described, load_interface, model_entry

EXPOSED = ["model_info", "generate", "get_activations", "logit_lens", "steered_generate"]


@pytest.fixture
def tools(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.delenv("INTERFACE_MODEL", raising=False)
    return load_interface("model_tools", [model_entry(model_dir)])


def test_every_exposed_function_is_described(tools: ModuleType) -> None:
    assert [fn.__name__ for fn in interface._exposed] == EXPOSED
    assert_well_described(interface._exposed)


def test_model_info_describes_the_model_without_its_path(tools: ModuleType, model_dir: Path, reference) -> None:
    info = tools.model_info()
    ref_model, _ = reference
    assert info == {"name": "org/tiny-llama", "is_peft": False, "layers": 4, "hidden_size": 64, "dtype": "float32",
                    "device": "cpu", "parameters": sum(p.numel() for p in ref_model.parameters()),
                    "has_chat_template": True}
    assert str(model_dir) not in json.dumps(info)


def test_a_hidden_models_name_is_not_shown(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERFACE_MODEL", raising=False)
    tools = load_interface("model_tools", [model_entry(model_dir, name="secret/model", hidden=True,
                                                       _lookup_name="secret/model")])
    text = json.dumps(tools.model_info())
    assert '"name": "<hidden>"' in text
    assert "secret" not in text and str(model_dir) not in text


def test_interface_model_picks_which_model_is_served(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = [model_entry(model_dir), model_entry(model_dir, var_name="other", name="org/other")]
    monkeypatch.setenv("INTERFACE_MODEL", "other")
    assert load_interface("model_tools", models).model_info()["name"] == "org/other"
    monkeypatch.setenv("INTERFACE_MODEL", "missing")
    with pytest.raises(LookupError, match="no configured model 'missing'"):
        load_interface("model_tools", models)


def test_greedy_generate_equals_toolkit_and_model_generate(tools: ModuleType, reference) -> None:
    model, tok = reference
    chat_text = toolkit.format_chat(tok, "hello there", system="be brief", prefill="good")
    expected = toolkit.generate(model, tok, chat_text, max_new_tokens=6)[0]
    assert tools.generate("hello there", max_new_tokens=6, system="be brief", prefill="good") == expected
    assert tools.generate("hello there", max_new_tokens=6, system="be brief", prefill="good") == expected

    # The raw path against plain transformers, tokens and all.
    batch = tok("the cat sat", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
    raw = tok.decode(out[0, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    assert tools.generate("the cat sat", max_new_tokens=6, chat=False) == raw


def test_generate_rejects_bad_arguments(tools: ModuleType) -> None:
    with pytest.raises(ValueError, match="system needs chat=True"):
        tools.generate("hi", chat=False, system="be brief")
    with pytest.raises(ValueError, match="max_new_tokens must be between 1 and"):
        tools.generate("hi", max_new_tokens=0)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        tools.generate("hi", temperature=-1.0)


def test_get_activations_match_the_hidden_states(tools: ModuleType, reference) -> None:
    model, tok = reference
    batch = tok("the cat sat on the mat", return_tensors="pt")
    with torch.no_grad():
        states = model(**batch, output_hidden_states=True).hidden_states
    result = tools.get_activations("the cat sat on the mat", layers=[0, 2], include_vector=True)
    assert result["token"] == "mat" and result["n_tokens"] == batch["input_ids"].shape[1]
    for row, layer in zip(result["layers"], [0, 2], strict=True):
        expected = states[layer + 1][0, -1]
        assert row["layer"] == layer
        assert row["norm"] == pytest.approx(expected.norm().item(), abs=1e-3)
        assert row["vector"] == pytest.approx(expected.tolist(), abs=1e-3)
        top_dim, top_value = row["top_dims"][0]
        assert top_dim == expected.abs().argmax().item() and top_value == pytest.approx(expected[top_dim].item(),
                                                                                        abs=1e-3)
        assert len(row["top_dims"]) == 10

    at_cat = tools.get_activations("the cat sat on the mat", layers=[-1], position=2)
    assert at_cat["token"] == "cat" and at_cat["layers"][0]["layer"] == 3 and "vector" not in at_cat["layers"][0]
    with pytest.raises(ValueError, match="out of range"):
        tools.get_activations("the cat", layers=[4])
    with pytest.raises(ValueError, match="outside the prompt"):
        tools.get_activations("the cat", layers=[0], position=5)


def test_the_last_layers_logit_lens_is_the_models_prediction(tools: ModuleType, reference) -> None:
    model, tok = reference
    batch = tok("what is the capital of france", return_tensors="pt")
    with torch.no_grad():
        probs = model(**batch).logits[0, -1].softmax(-1)
    result = tools.logit_lens("what is the capital of france", top_k=3)
    assert result["token"] == "france"
    assert [row["layer"] for row in result["layers"]] == [0, 1, 2, 3]
    last = result["layers"][-1]
    assert last["tokens"][0] == tok.decode([probs.argmax().item()])
    assert last["probs"] == pytest.approx(probs.topk(3).values.tolist(), abs=1e-4)
    assert all(len(row["tokens"]) == 3 for row in result["layers"])
    assert [row["layer"] for row in tools.logit_lens("hello", layers=[-1, 1])["layers"]] == [3, 1]
    with pytest.raises(ValueError, match="top_k must be between"):
        tools.logit_lens("hello", top_k=0)


def test_steered_generate(tools: ModuleType, reference) -> None:
    model, tok = reference
    unsteered = tools.generate("tell me about it", max_new_tokens=8)
    off = tools.steered_generate("tell me about it", concept="ocean", layer=1, strength=0.0, max_new_tokens=8)
    assert off["text"] == unsteered

    words = ["table", "music", "bread"]
    on = tools.steered_generate("tell me about it", concept="ocean", layer=1, strength=8.0, baseline_words=words,
                                max_new_tokens=8)
    vector = toolkit.concept_vector(model, tok, "ocean", words, layer=1)
    with toolkit.steer(model, {1: vector}, strength=8.0):
        expected = toolkit.generate(model, tok, toolkit.format_chat(tok, "tell me about it"), max_new_tokens=8)[0]
    assert on["text"] == expected != unsteered
    assert on["layer"] == 1 and on["strength"] == 8.0
    assert on["vector_norm"] == pytest.approx(vector.norm().item(), abs=1e-3)
    assert len(on["vector_top_tokens"]) == 5
    with pytest.raises(ValueError, match="baseline_words must be a non-empty list"):
        tools.steered_generate("hi", concept="ocean", layer=1, baseline_words=[])


def test_a_peft_adapter_is_loaded_on_its_base(model_dir: Path, tmp_path: Path, reference,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERFACE_MODEL", raising=False)
    _, tok = reference
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
        warnings.simplefilter("ignore", FutureWarning)
        adapted = get_peft_model(base, config).eval()
        adapted.save_pretrained(tmp_path / "adapter")  # no tokenizer: the interface takes the base's
        tools = load_interface("model_tools", [model_entry(tmp_path / "adapter", name="org/adapter", is_peft=True,
                                                           base_path=str(model_dir))])
    assert isinstance(tools.model, PeftModel)
    assert tools.model_info()["is_peft"] is True
    text = toolkit.format_chat(tok, "hello there")
    expected = toolkit.generate(adapted, tok, text, max_new_tokens=6)[0]
    assert tools.generate("hello there", max_new_tokens=6) == expected
    lens: dict[str, Any] = tools.logit_lens("hello there", layers=[-1], top_k=1)
    with torch.no_grad():
        top = adapted(**tok("hello there", return_tensors="pt")).logits[0, -1].argmax().item()
    assert lens["layers"][0]["tokens"] == [tok.decode([top])]
