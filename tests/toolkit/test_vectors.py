from __future__ import annotations

import torch

from toolkit import concept_vector, format_chat, get_activations, mean_diff_vector

POSITIVE = ["i love sunny days", "good morning my friend"]
NEGATIVE = ["i hate rainy days", "the dog ran in the park"]


def test_mean_diff_vector_is_the_difference_of_mean_last_token_activations(llama, tokenizer):
    v = mean_diff_vector(llama, tokenizer, POSITIVE, NEGATIVE, layer=2)
    pos = torch.stack([get_activations(llama, tokenizer, p, 2, positions=-1) for p in POSITIVE]).mean(0)
    neg = torch.stack([get_activations(llama, tokenizer, p, 2, positions=-1) for p in NEGATIVE]).mean(0)
    assert v.shape == (64,)
    torch.testing.assert_close(v, pos - neg)


def test_concept_vector_is_the_concept_activation_minus_the_mean_baseline(gpt2, tokenizer):
    v = concept_vector(gpt2, tokenizer, "ocean", ["bread", "table", "music"], layer=1)
    concept = get_activations(gpt2, tokenizer, "Tell me about ocean.", 1, positions=-1)
    baselines = [get_activations(gpt2, tokenizer, f"Tell me about {w}.", 1, positions=-1)
                 for w in ("bread", "table", "music")]
    assert v.shape == (64,)
    torch.testing.assert_close(v, concept - torch.stack(baselines).mean(0))


def test_concept_vector_uses_the_template_and_optionally_the_chat_format(llama, tokenizer):
    v = concept_vector(llama, tokenizer, "fire", ["bread"], layer=1, template="tell me about {word}", chat=True)
    expected = (get_activations(llama, tokenizer, format_chat(tokenizer, "tell me about fire"), 1, positions=-1)
                - get_activations(llama, tokenizer, format_chat(tokenizer, "tell me about bread"), 1, positions=-1))
    torch.testing.assert_close(v, expected)
