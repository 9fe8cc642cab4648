from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import (
    Gemma2Config,
    Gemma2ForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from toolkit import get_final_norm, get_layers, get_unembedding, hidden_size, num_layers
from toolkit.layers import layer_output_tensor, replace_layer_output

from .conftest import VOCAB

SMALL = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
             intermediate_size=64, max_position_embeddings=64)


@pytest.mark.parametrize("config_cls, model_cls, extra", [
    (Qwen2Config, Qwen2ForCausalLM, {}),
    (Qwen3Config, Qwen3ForCausalLM, {"head_dim": 8}),
    (MistralConfig, MistralForCausalLM, {}),
    (Gemma2Config, Gemma2ForCausalLM, {"head_dim": 8}),
])
def test_layers_are_found_under_model_layers_for_each_llama_style_family(config_cls, model_cls, extra):
    model = model_cls(config_cls(**SMALL, **extra))
    assert get_layers(model) is model.model.layers
    assert num_layers(model) == 3
    assert hidden_size(model) == 32
    assert get_final_norm(model) is model.model.norm


def test_llama_layers_norm_and_unembedding_are_the_models_own_modules(llama):
    assert get_layers(llama) is llama.model.layers
    assert (num_layers(llama), hidden_size(llama)) == (4, 64)
    assert get_final_norm(llama) is llama.model.norm
    assert get_unembedding(llama) is llama.lm_head


def test_gpt2_layers_are_transformer_h(gpt2):
    assert get_layers(gpt2) is gpt2.transformer.h
    assert (num_layers(gpt2), hidden_size(gpt2)) == (4, 64)
    assert get_final_norm(gpt2) is gpt2.transformer.ln_f


def test_gemma3_multimodal_wrapper_layers_are_found_under_language_model():
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration
    text = dict(SMALL, head_dim=8, sliding_window=16)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                  image_size=32, patch_size=8)
    model = Gemma3ForConditionalGeneration(Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4))
    assert get_layers(model) is model.model.language_model.layers
    assert hidden_size(model) == 32
    assert get_final_norm(model) is model.model.language_model.norm


def test_unknown_architecture_raises_an_error_naming_the_model_class():
    class MysteryNet(nn.Module):
        pass

    with pytest.raises(ValueError, match="MysteryNet"):
        get_layers(MysteryNet())


def test_layer_output_helpers_handle_tuples_and_plain_tensors():
    h, new, extra = torch.zeros(1, 2, 3), torch.ones(1, 2, 3), object()
    assert layer_output_tensor(h) is h
    assert layer_output_tensor((h, extra)) is h
    assert replace_layer_output(h, new) is new
    replaced = replace_layer_output((h, extra), new)
    assert isinstance(replaced, tuple) and replaced[0] is new and replaced[1] is extra


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile's import of torch.jit
def test_a_torch_compile_wrapper_is_unwrapped_to_find_layers(llama):
    from toolkit import unwrap_model
    compiled = torch.compile(llama)  # compiles lazily; nothing is run here
    assert unwrap_model(compiled) is llama
    assert get_layers(compiled) is llama.model.layers
