from __future__ import annotations

import pytest
import torch

from toolkit import add_noise, generate, get_activations, get_layers, steer

from .conftest import PROMPTS, tiny_llama


def logits(model, tokenizer, prompt="the cat sat on the mat"):
    with torch.no_grad():
        return model(**tokenizer(prompt, return_tensors="pt")).logits


def hooks_snapshot(model):
    # transformers 5 installs its own permanent output-capturing hooks once
    # output_hidden_states is used, so compare with the state before rather than "empty".
    return [dict(layer._forward_hooks) for layer in get_layers(model)]


@pytest.fixture(scope="module")
def vector():
    torch.manual_seed(1)
    return torch.randn(64)


def test_steering_with_strength_zero_leaves_logits_bit_identical(any_model, tokenizer, vector):
    base = logits(any_model, tokenizer)
    for mode in ("add", "ablate"):
        with steer(any_model, {1: vector, 2: vector}, strength=0.0, mode=mode):
            steered = logits(any_model, tokenizer)
        assert torch.equal(steered, base)


def test_steering_with_positive_strength_changes_logits(any_model, tokenizer, vector):
    base = logits(any_model, tokenizer)
    with steer(any_model, (1, vector), strength=4.0):
        steered = logits(any_model, tokenizer)
    assert not torch.allclose(steered, base)
    assert torch.equal(logits(any_model, tokenizer), base)  # undone on exit


def test_adding_a_vector_shifts_the_steered_layers_output_by_exactly_that_vector(llama, tokenizer, vector):
    base = get_activations(llama, tokenizer, PROMPTS, layers=1, positions=-1)
    with steer(llama, {1: vector}, strength=2.0):
        steered = get_activations(llama, tokenizer, PROMPTS, layers=1, positions=-1)
    torch.testing.assert_close(steered - base, (2.0 * vector).expand_as(base))


def test_ablation_removes_the_component_along_the_direction(any_model, tokenizer, vector):
    unit = vector / vector.norm()
    before = get_activations(any_model, tokenizer, PROMPTS, layers=2)
    assert (before @ unit).abs().max() > 1e-3
    for mode in ("ablate", "project_out"):
        with steer(any_model, {2: vector}, mode=mode):
            after = get_activations(any_model, tokenizer, PROMPTS, layers=2)
        assert (after @ unit).abs().max() < 1e-4


def test_steering_at_given_positions_leaves_other_positions_untouched(llama, tokenizer, vector):
    base = get_activations(llama, tokenizer, "the cat sat on the mat", layers=1)
    with steer(llama, {1: vector}, strength=3.0, positions=[-1]):
        steered = get_activations(llama, tokenizer, "the cat sat on the mat", layers=1)
    assert torch.equal(steered[:-1], base[:-1])
    torch.testing.assert_close(steered[-1] - base[-1], 3.0 * vector)


def test_steering_applies_during_generation(llama, tokenizer, vector):
    plain = generate(llama, tokenizer, PROMPTS, max_new_tokens=6)
    with steer(llama, {0: vector}, strength=20.0):
        steered = generate(llama, tokenizer, PROMPTS, max_new_tokens=6)
    assert steered != plain


def test_no_hook_remains_after_an_exception_inside_steer(any_model, tokenizer, vector):
    before = hooks_snapshot(any_model)
    with pytest.raises(RuntimeError, match="boom"):
        with steer(any_model, {0: vector, 3: vector}, strength=1.0):
            logits(any_model, tokenizer)
            assert hooks_snapshot(any_model) != before
            raise RuntimeError("boom")
    assert hooks_snapshot(any_model) == before


def test_no_hook_remains_after_an_exception_inside_add_noise(any_model, tokenizer):
    before = hooks_snapshot(any_model)
    with pytest.raises(RuntimeError, match="boom"):
        with add_noise(any_model, [1, 2], scale=1.0, seed=0):
            assert hooks_snapshot(any_model) != before
            raise RuntimeError("boom")
    assert hooks_snapshot(any_model) == before


def test_invalid_steering_mode_is_rejected(llama, vector):
    with pytest.raises(ValueError, match="mode"):
        with steer(llama, {0: vector}, mode="multiply"):
            pass


def test_noise_with_a_seed_is_reproducible_and_changes_the_output(any_model, tokenizer):
    base = logits(any_model, tokenizer)
    with add_noise(any_model, 1, scale=0.5, seed=7):
        first = logits(any_model, tokenizer)
    with add_noise(any_model, 1, scale=0.5, seed=7):
        second = logits(any_model, tokenizer)
    assert torch.equal(first, second)
    assert not torch.allclose(first, base)


def test_noise_has_the_requested_scale(llama, tokenizer):
    base = get_activations(llama, tokenizer, PROMPTS, layers=2)
    with add_noise(llama, 2, scale=0.5, seed=0):
        noisy = get_activations(llama, tokenizer, PROMPTS, layers=2)
    real = base.abs().sum(-1) > 0
    assert abs((noisy - base)[real].std().item() - 0.5) < 0.05


def test_the_model_still_takes_gradients_after_steered_generation_and_activation_reads(tokenizer):
    # generate and get_activations run under inference_mode, with the hooks' converted vector
    # (float64 -> float32) cached inside it; a later forward with autograd in the same block must work.
    model = tiny_llama(seed=3)
    vector = torch.randn(64, dtype=torch.float64)
    with steer(model, {1: vector}, strength=2.0), add_noise(model, 2, scale=0.1, seed=0):
        generate(model, tokenizer, PROMPTS[:2], max_new_tokens=3)
        get_activations(model, tokenizer, PROMPTS[:2], layers=3)
        model(**tokenizer(PROMPTS[0], return_tensors="pt")).logits.sum().backward()
    assert not any(p.is_inference() for p in model.parameters())
    grad = get_layers(model)[0].mlp.up_proj.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0
