from __future__ import annotations

import pytest
import torch

from toolkit import get_activations, get_final_norm, get_layers

from .conftest import PROMPTS, left_padded, reference_forward


def hidden_states(model, batch):
    return reference_forward(model, batch, output_hidden_states=True).hidden_states


def test_activations_equal_output_hidden_states_at_the_last_position_with_padding(any_model, tokenizer):
    reference = hidden_states(any_model, left_padded(tokenizer, PROMPTS))
    acts = get_activations(any_model, tokenizer, PROMPTS, layers=[0, 1, 2], positions=-1)
    for layer in (0, 1, 2):
        torch.testing.assert_close(acts[layer], reference[layer + 1][:, -1])


def test_activations_for_all_positions_equal_hidden_states_on_real_tokens_and_zero_on_padding(any_model, tokenizer):
    batch = left_padded(tokenizer, PROMPTS)
    reference = hidden_states(any_model, batch)[2]
    acts = get_activations(any_model, tokenizer, PROMPTS, layers=1)
    real = batch["attention_mask"].bool()
    assert acts.shape == reference.shape
    torch.testing.assert_close(acts[real], reference[real])
    assert torch.count_nonzero(acts[~real]) == 0


def test_non_negative_positions_count_from_each_prompts_first_real_token(llama, tokenizer):
    acts = get_activations(llama, tokenizer, PROMPTS[:2], layers=1, positions=[0, 2])
    for i, prompt in enumerate(PROMPTS[:2]):
        alone = get_activations(llama, tokenizer, prompt, layers=1)
        torch.testing.assert_close(acts[i], alone[[0, 2]])


def test_last_layer_activation_is_the_raw_layer_output_before_the_final_norm(any_model, tokenizer):
    reference = hidden_states(any_model, left_padded(tokenizer, PROMPTS))
    last = get_activations(any_model, tokenizer, PROMPTS, layers=-1, positions=-1)
    with torch.no_grad():
        torch.testing.assert_close(get_final_norm(any_model)(last), reference[-1][:, -1])


def test_a_single_prompt_and_a_single_layer_give_an_unbatched_tensor(llama, tokenizer):
    act = get_activations(llama, tokenizer, "the cat sat", layers=2, positions=-1)
    assert act.shape == (64,) and act.dtype == torch.float32 and act.device.type == "cpu"
    acts = get_activations(llama, tokenizer, "the cat sat", layers=[2, -1])
    assert set(acts) == {2, -1} and acts[2].shape == (4, 64)  # <bos> + 3 words


def test_small_batch_size_gives_the_same_activations_as_one_batch(llama, tokenizer):
    whole = get_activations(llama, tokenizer, PROMPTS, layers=2)
    chunked = get_activations(llama, tokenizer, PROMPTS, layers=2, batch_size=1)
    assert chunked.shape == whole.shape
    torch.testing.assert_close(chunked, whole)


def test_get_activations_stops_after_the_deepest_requested_layer(any_model, tokenizer):
    fired = []
    handle = get_layers(any_model)[2].register_forward_hook(lambda *args: fired.append(True))
    try:
        get_activations(any_model, tokenizer, PROMPTS, layers=[0, 1], positions=-1)
    finally:
        handle.remove()
    assert fired == []


def test_get_activations_leaves_no_hook_behind(llama, tokenizer):
    before = [dict(layer._forward_hooks) for layer in get_layers(llama)]
    get_activations(llama, tokenizer, PROMPTS, layers=[1, 3])
    with pytest.raises(IndexError):
        get_activations(llama, tokenizer, "hello", layers=1, positions=5)
    assert [dict(layer._forward_hooks) for layer in get_layers(llama)] == before


def test_out_of_range_layer_raises(llama, tokenizer):
    with pytest.raises(IndexError):
        get_activations(llama, tokenizer, "hello", layers=4)


def test_padding_does_not_change_a_gpt2_prompts_activations(gpt2, tokenizer) -> None:
    """GPT-2's positions are absolute: a left-padded row must still start at position 0."""
    alone = get_activations(gpt2, tokenizer, ["hello"], layers=1, positions=-1)
    batched = get_activations(gpt2, tokenizer, ["hello", "the cat sat on the mat and the dog"], layers=1,
                              positions=-1)
    assert torch.allclose(alone[0], batched[0], atol=1e-5)


@pytest.mark.parametrize("positions", [-1, [0, -1], None])
def test_activations_are_ordinary_tensors_a_probe_can_be_trained_on(llama, tokenizer, positions):
    # The forward pass runs under inference_mode; what comes back must still work with autograd
    # (a probe saves its input for backward) and accept in-place edits.
    acts = get_activations(llama, tokenizer, PROMPTS[:2], layers=[1, 2], positions=positions)
    single = get_activations(llama, tokenizer, PROMPTS[0], layers=1, positions=positions)
    for tensor in (*acts.values(), single):
        assert not tensor.is_inference()
    features = acts[1].reshape(-1, acts[1].shape[-1])
    probe = torch.nn.Linear(features.shape[-1], 1)
    probe(features).sum().backward()
    assert probe.weight.grad is not None and float(probe.weight.grad.abs().sum()) > 0
    single += 1.0
