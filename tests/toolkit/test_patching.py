from __future__ import annotations

import math

import torch

from toolkit import activation_patching

CLEAN, CORRUPTED = "what is the capital of france", "what is the capital of rome ?"


def test_patching_the_last_layer_at_the_last_position_restores_the_clean_metric(any_model, tokenizer):
    result = activation_patching(any_model, tokenizer, CLEAN, CORRUPTED, metric="paris")
    last = result["layers"][-1]
    assert math.isclose(result["patched"][last], result["clean"], rel_tol=1e-5, abs_tol=1e-5)
    assert math.isclose(result["normalized_effect"][last], 1.0, rel_tol=1e-3)


def test_patching_reports_every_layer_and_consistent_effects(llama, tokenizer):
    result = activation_patching(llama, tokenizer, CLEAN, CORRUPTED, metric=tokenizer.convert_tokens_to_ids("paris"))
    assert result["layers"] == [0, 1, 2, 3]
    for layer in result["layers"]:
        assert math.isclose(result["effect"][layer], result["patched"][layer] - result["corrupted"], abs_tol=1e-9)


def test_patching_accepts_a_callable_metric_on_the_last_position_logits(gpt2, tokenizer):
    seen = []

    def top_logit(logits: torch.Tensor) -> float:
        seen.append(logits.shape)
        return float(logits.max())

    result = activation_patching(gpt2, tokenizer, CLEAN, CORRUPTED, layers=[1, -1], metric=top_logit)
    assert result["layers"] == [1, 3]
    assert all(shape == (gpt2.config.vocab_size,) for shape in seen)
    assert math.isclose(result["patched"][3], result["clean"], rel_tol=1e-5)


def test_patching_identical_prompts_has_no_effect(llama, tokenizer):
    result = activation_patching(llama, tokenizer, CLEAN, CLEAN, layers=[1, 2], metric="paris")
    assert all(abs(e) < 1e-5 for e in result["effect"].values())
    assert all(math.isnan(v) for v in result["normalized_effect"].values())
