from __future__ import annotations

import torch
from transformers import Gemma2Config, Gemma2ForCausalLM

from toolkit import get_unembedding, logit_lens, nearest_tokens, num_layers

from .conftest import PROMPTS, VOCAB


def last_logits(model, tokenizer, prompt):
    with torch.no_grad():
        return model(**tokenizer(prompt, return_tensors="pt")).logits[0, -1]


def test_the_last_layers_logit_lens_equals_the_models_logits(any_model, tokenizer):
    rows = logit_lens(any_model, tokenizer, PROMPTS[0], return_logits=True)
    assert [r["layer"] for r in rows] == list(range(num_layers(any_model)))
    torch.testing.assert_close(rows[-1]["logits"], last_logits(any_model, tokenizer, PROMPTS[0]))
    assert rows[-1]["token_ids"][0] == int(last_logits(any_model, tokenizer, PROMPTS[0]).argmax())


def test_logit_lens_applies_gemma2_final_logit_softcapping(tokenizer):
    torch.manual_seed(0)
    model = Gemma2ForCausalLM(Gemma2Config(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=8, intermediate_size=64, final_logit_softcapping=0.5, initializer_range=0.5)).eval()
    rows = logit_lens(model, tokenizer, "the cat sat", layers=[-1], return_logits=True)
    reference = last_logits(model, tokenizer, "the cat sat")
    assert reference.abs().max() <= 0.5
    torch.testing.assert_close(rows[0]["logits"], reference)


def test_logit_lens_reports_top_k_tokens_with_probabilities_for_each_prompt(llama, tokenizer):
    results = logit_lens(llama, tokenizer, PROMPTS, layers=[0, 2], top_k=3)
    assert len(results) == len(PROMPTS)
    for rows in results:
        assert [r["layer"] for r in rows] == [0, 2]
        for row in rows:
            assert len(row["tokens"]) == len(row["token_ids"]) == len(row["probs"]) == 3
            assert row["probs"] == sorted(row["probs"], reverse=True) and 0 < sum(row["probs"]) <= 1 + 1e-6
            assert row["tokens"] == [tokenizer.decode([t]) for t in row["token_ids"]]


def test_batched_logit_lens_matches_single_prompt_lens(llama, tokenizer):
    batched = logit_lens(llama, tokenizer, PROMPTS, return_logits=True)
    for prompt, rows in zip(PROMPTS, batched):
        single = logit_lens(llama, tokenizer, prompt, return_logits=True)
        for a, b in zip(rows, single):
            torch.testing.assert_close(a["logits"], b["logits"])


def test_nearest_tokens_finds_the_token_whose_unembedding_is_the_vector(any_model, tokenizer):
    token_id = tokenizer.convert_tokens_to_ids("ocean")
    vector = get_unembedding(any_model).weight[token_id].detach() * 3.0
    top = nearest_tokens(any_model, tokenizer, vector, top_k=4)
    assert len(top) == 4
    assert top[0][0] == "ocean" and abs(top[0][1] - 1.0) < 1e-5
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)


def test_nearest_tokens_can_search_the_input_embedding(llama, tokenizer):
    token_id = tokenizer.convert_tokens_to_ids("bread")
    vector = llama.get_input_embeddings().weight[token_id].detach()
    assert nearest_tokens(llama, tokenizer, vector, top_k=1, space="embedding")[0][0] == "bread"
