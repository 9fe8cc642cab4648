"""Every toolkit function on a LoRA-wrapped model must see the adapter (forward runs through
the wrapper) and agree with the same operation done by hand on the wrapper."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from peft import LoraConfig, get_peft_model

from toolkit import (
    activation_patching,
    generate,
    get_activations,
    get_final_norm,
    get_layers,
    hidden_size,
    introspection_trials,
    logit_lens,
    mean_diff_vector,
    num_layers,
    steer,
    unwrap_model,
)

from .conftest import PROMPTS, left_padded, reference_forward, tiny_gpt2, tiny_llama

TARGETS = {"llama": ["q_proj", "v_proj", "down_proj", "lm_head"], "gpt2": ["c_attn", "c_fc"]}


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def wrapped(request: pytest.FixtureRequest):
    base = tiny_llama(seed=3) if request.param == "llama" else tiny_gpt2(seed=3)
    torch.manual_seed(4)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=TARGETS[request.param], init_lora_weights=False,
                        fan_in_fan_out=request.param == "gpt2")
    with warnings.catch_warnings():  # peft 0.21 calls a transformers API deprecated in v5
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(base, config).eval()


def forward(model, tokenizer, prompts, **kwargs):
    return reference_forward(model, left_padded(tokenizer, prompts), **kwargs)


def test_layers_are_found_through_the_peft_wrapper(wrapped):
    base = wrapped.get_base_model()
    assert unwrap_model(wrapped) is base
    expected = base.model.layers if hasattr(base, "model") else base.transformer.h
    assert get_layers(wrapped) is expected
    assert (num_layers(wrapped), hidden_size(wrapped)) == (4, 64)


def test_the_adapter_changes_the_outputs(wrapped, tokenizer):
    with_adapter = forward(wrapped, tokenizer, PROMPTS).logits
    with wrapped.disable_adapter():
        without = forward(wrapped, tokenizer, PROMPTS).logits
    assert not torch.allclose(with_adapter, without, atol=1e-3)


def test_activations_equal_the_wrappers_hidden_states(wrapped, tokenizer):
    reference = forward(wrapped, tokenizer, PROMPTS, output_hidden_states=True).hidden_states
    acts = get_activations(wrapped, tokenizer, PROMPTS, layers=[0, 2, 3], positions=-1)
    torch.testing.assert_close(acts[0], reference[1][:, -1])
    torch.testing.assert_close(acts[2], reference[3][:, -1])
    with torch.no_grad():
        torch.testing.assert_close(get_final_norm(wrapped)(acts[3]), reference[4][:, -1])


def test_the_last_layers_logit_lens_equals_the_wrappers_logits(wrapped, tokenizer):
    rows = logit_lens(wrapped, tokenizer, PROMPTS[0], layers=[-1], return_logits=True)
    reference = forward(wrapped, tokenizer, [PROMPTS[0]]).logits[0, -1]
    torch.testing.assert_close(rows[0]["logits"], reference)


def test_generation_equals_the_wrappers_own_greedy_generate(wrapped, tokenizer):
    expected = []
    for prompt in PROMPTS:
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            out = wrapped.generate(**ids, max_new_tokens=6, do_sample=False, pad_token_id=0)
        expected.append(tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))
    assert generate(wrapped, tokenizer, PROMPTS, max_new_tokens=6) == expected


def test_steering_the_wrapper_shifts_its_hidden_states_and_strength_zero_is_exact(wrapped, tokenizer):
    torch.manual_seed(9)
    vector = torch.randn(64)
    base = forward(wrapped, tokenizer, PROMPTS, output_hidden_states=True)
    with steer(wrapped, {1: vector}, strength=0.0):
        assert torch.equal(forward(wrapped, tokenizer, PROMPTS).logits, base.logits)
    with steer(wrapped, {1: vector}, strength=2.0):
        steered = forward(wrapped, tokenizer, PROMPTS, output_hidden_states=True)
    # The wrapper's own hidden_states report the steered residual (steering hooks run first).
    torch.testing.assert_close(steered.hidden_states[2][:, -1] - base.hidden_states[2][:, -1],
                               (2.0 * vector).expand(len(PROMPTS), -1))
    assert not torch.allclose(steered.logits, base.logits)


def test_mean_diff_vector_through_the_wrapper_equals_the_manual_difference(wrapped, tokenizer):
    positive, negative = PROMPTS[:2], PROMPTS[2:]
    v = mean_diff_vector(wrapped, tokenizer, positive, negative, layer=1)
    hs_pos = forward(wrapped, tokenizer, positive, output_hidden_states=True).hidden_states[2][:, -1]
    hs_neg = forward(wrapped, tokenizer, negative, output_hidden_states=True).hidden_states[2][:, -1]
    torch.testing.assert_close(v, hs_pos.mean(0) - hs_neg.mean(0))


def test_activation_patching_through_the_wrapper_restores_the_clean_metric(wrapped, tokenizer):
    result = activation_patching(wrapped, tokenizer, "the capital of france", "the capital of rome", layers=[-1],
                                 metric="paris")
    clean = forward(wrapped, tokenizer, ["the capital of france"]).logits[0, -1].log_softmax(-1)
    assert math.isclose(result["clean"], float(clean[tokenizer.convert_tokens_to_ids("paris")]), abs_tol=1e-5)
    assert math.isclose(result["patched"][3], result["clean"], abs_tol=1e-5)


def test_introspection_trials_run_on_the_wrapper(wrapped, tokenizer):
    result = introspection_trials(wrapped, tokenizer, {"ocean": torch.randn(64)}, layer=1, strength=4.0,
                                  n_trials=2, max_new_tokens=4)
    assert len(result["trials"]) == 4
