from __future__ import annotations

import torch

from toolkit import generate

from .conftest import PROMPTS, build_tokenizer


def test_batched_greedy_generation_equals_one_by_one_generation(any_model, tokenizer):
    batched = generate(any_model, tokenizer, PROMPTS, max_new_tokens=8)
    one_by_one = [generate(any_model, tokenizer, p, max_new_tokens=8)[0] for p in PROMPTS]
    assert batched == one_by_one


def test_generation_returns_only_the_new_tokens(llama, tokenizer):
    prompt = "the cat sat on the mat"
    ids = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        full = llama.generate(**ids, max_new_tokens=6, do_sample=False, pad_token_id=0)
    expected = tokenizer.decode(full[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert generate(llama, tokenizer, prompt, max_new_tokens=6) == [expected]


def test_a_single_string_prompt_gives_a_list_of_one(llama, tokenizer):
    out = generate(llama, tokenizer, "hello", max_new_tokens=3)
    assert isinstance(out, list) and len(out) == 1 and isinstance(out[0], str)


def test_generation_does_not_change_the_tokenizers_padding_settings(llama):
    tok = build_tokenizer()
    tok.pad_token = None  # no pad token: eos is used for padding
    generate(llama, tok, PROMPTS, max_new_tokens=2)
    assert tok.padding_side == "right" and tok.pad_token is None


def test_sampling_with_a_seed_is_reproducible(llama, tokenizer):
    first = generate(llama, tokenizer, PROMPTS, max_new_tokens=8, temperature=1.5, seed=3)
    second = generate(llama, tokenizer, PROMPTS, max_new_tokens=8, temperature=1.5, seed=3)
    assert first == second


def test_small_batch_size_gives_the_same_greedy_outputs(llama, tokenizer):
    assert generate(llama, tokenizer, PROMPTS, max_new_tokens=5, batch_size=2) == \
        generate(llama, tokenizer, PROMPTS, max_new_tokens=5)
