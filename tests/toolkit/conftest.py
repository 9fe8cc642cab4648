"""Tiny random models and a word-level tokenizer, built offline, for the toolkit tests."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SENTENCES = [
    "the cat sat on the mat and the dog ran in the park",
    "i love sunny days and i hate rainy days",
    "tell me about ocean music bread table mountain fire",
    "user assistant system : yes no i detect notice an injected thought about it",
    "what is the capital of france paris rome is a city . , ? !",
    "be brief hello there good morning my friend",
]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)
VOCAB = 96


def build_tokenizer() -> PreTrainedTokenizerFast:
    raw = Tokenizer(models.WordLevel(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=["<pad>", "<bos>", "<eos>", "<unk>"]))
    raw.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
                                  unk_token="<unk>")
    tok.chat_template = CHAT_TEMPLATE
    assert len(tok) <= VOCAB
    return tok


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=128, max_position_embeddings=128,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2, initializer_range=0.1)
    return LlamaForCausalLM(config).eval()


def tiny_gpt2(seed: int = 0) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_embd=64, n_layer=4, n_head=4, n_positions=128,
                        bos_token_id=1, eos_token_id=2, pad_token_id=0, initializer_range=0.1)
    return GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="session")
def tokenizer() -> PreTrainedTokenizerFast:
    return build_tokenizer()


@pytest.fixture(scope="module")
def llama() -> LlamaForCausalLM:
    return tiny_llama()


@pytest.fixture(scope="module")
def gpt2() -> GPT2LMHeadModel:
    return tiny_gpt2()


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def any_model(request: pytest.FixtureRequest):
    """Each test using this runs once on a tiny Llama and once on a tiny GPT-2."""
    return tiny_llama() if request.param == "llama" else tiny_gpt2()


def left_padded(tokenizer, prompts):
    """A left-padded batch made by the tokenizer itself: the reference the toolkit is checked against."""
    tokenizer.padding_side = "left"
    try:
        return tokenizer(prompts, padding=True, return_tensors="pt")
    finally:
        tokenizer.padding_side = "right"


def reference_forward(model, batch, **kwargs):
    """A plain forward on a left-padded batch, positions counted as HF's generate counts them."""
    positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        return model(**batch, position_ids=positions, **kwargs)


PROMPTS = ["the cat sat on the mat", "i love sunny days and", "hello"]  # different lengths -> padding
