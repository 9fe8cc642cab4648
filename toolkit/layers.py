"""Find the parts of a HuggingFace causal LM that interpretability code needs.

Works on plain models and on PEFT wrappers (`peft.PeftModel`): the wrapper is unwrapped to
*find* modules, but forward passes should still go through the wrapper so the adapter applies
(LoRA modules are injected in place, so the layers found here already include the adapter).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["unwrap_model", "get_layers", "num_layers", "hidden_size", "get_final_norm", "get_unembedding"]

# Attribute paths tried in order, relative to the unwrapped model.
_LAYER_PATHS = (
    "model.layers",                 # Llama, Mistral, Qwen 2/3, Gemma 2/3 (text), Phi-3, ...
    "model.language_model.layers",  # Gemma 3 multimodal (Gemma3ForConditionalGeneration), ...
    "language_model.model.layers",  # older multimodal wrappers
    "transformer.h",                # GPT-2, GPT-J, Bloom
    "gpt_neox.layers",              # Pythia / GPT-NeoX
    "model.decoder.layers",         # OPT
)
_NORM_PATHS = (
    "model.norm",
    "model.language_model.norm",
    "language_model.model.norm",
    "transformer.ln_f",
    "gpt_neox.final_layer_norm",
    "model.decoder.final_layer_norm",
)


def _resolve(root: Any, path: str) -> Any | None:
    obj = root
    for name in path.split("."):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def unwrap_model(model: nn.Module) -> nn.Module:
    """Return the underlying transformers model of a PEFT or `torch.compile` wrapper (else `model`).

    Use it only to *find* modules; run forward passes through the wrapper so adapters apply.
    Example: `base = unwrap_model(peft_model)`
    """
    seen = 0
    while seen < 8:  # wrappers can nest (compiled PEFT model); bounded to avoid cycles
        seen += 1
        if hasattr(model, "peft_config") and hasattr(model, "get_base_model"):
            model = model.get_base_model()
        elif hasattr(model, "_orig_mod"):  # torch.compile's OptimizedModule
            model = model._orig_mod
        else:
            break
    return model


def get_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of a causal LM, in order (index i is layer i).

    Handles Llama, Mistral, Qwen 2/3, Gemma 2/3 (`model.model.layers`), Gemma 3 multimodal
    (`model.model.language_model.layers`), GPT-2 (`model.transformer.h`), GPT-NeoX, OPT,
    and PEFT wrappers of any of them.
    Raises ValueError naming the model class if no known path exists.
    Example: `get_layers(model)[10].register_forward_hook(fn)`
    """
    base = unwrap_model(model)
    for path in _LAYER_PATHS:
        layers = _resolve(base, path)
        if isinstance(layers, (nn.ModuleList, list, tuple)) and len(layers) > 0:
            return layers
    raise ValueError(
        f"toolkit does not know where the decoder layers of {type(base).__name__} are "
        f"(tried {', '.join(_LAYER_PATHS)})"
    )


def num_layers(model: nn.Module) -> int:
    """Number of decoder blocks. Example: `num_layers(model)  # 26 for gemma-2-2b`"""
    return len(get_layers(model))


def hidden_size(model: nn.Module) -> int:
    """Width of the residual stream (d_model). Example: `hidden_size(model)  # 2304`"""
    base = unwrap_model(model)
    config = base.config
    # Multimodal configs keep the language model's size in text_config.
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    for attr in ("hidden_size", "n_embd", "d_model"):
        value = getattr(text_config, attr, None)
        if isinstance(value, int):
            return value
    return base.get_input_embeddings().weight.shape[-1]


def get_final_norm(model: nn.Module) -> nn.Module:
    """The norm applied to the last layer's output before the unembedding (e.g. `model.model.norm`).

    Raises ValueError naming the model class if it cannot be found.
    Example: `normed = get_final_norm(model)(h)`
    """
    base = unwrap_model(model)
    for path in _NORM_PATHS:
        norm = _resolve(base, path)
        if isinstance(norm, nn.Module):
            return norm
    raise ValueError(f"toolkit does not know where the final norm of {type(base).__name__} is")


def get_unembedding(model: nn.Module) -> nn.Module:
    """The output projection (`lm_head`) mapping the residual stream to vocabulary logits.

    Example: `W_U = get_unembedding(model).weight  # [vocab, d_model]`
    """
    head = unwrap_model(model).get_output_embeddings()
    if head is None:
        raise ValueError(f"{type(unwrap_model(model)).__name__} has no output embeddings (lm_head)")
    return head


# ---- helpers shared by the hook-based modules (not part of the public API) ----

def layer_output_tensor(output: Any) -> torch.Tensor:
    """The residual-stream tensor in a decoder layer's output (transformers 5 layers return a
    plain tensor; older ones and some families return a tuple whose first item is it)."""
    return output[0] if isinstance(output, (tuple, list)) else output


def replace_layer_output(output: Any, hidden: torch.Tensor) -> Any:
    """`output` with its residual-stream tensor replaced by `hidden`, keeping the same structure."""
    if isinstance(output, tuple):
        return (hidden, *output[1:])
    if isinstance(output, list):
        return [hidden, *output[1:]]
    return hidden


def normalize_layer(model: nn.Module, layer: int) -> int:
    """Layer index in [0, n); negative indices count from the end like Python lists."""
    n = num_layers(model)
    if not -n <= layer < n:
        raise IndexError(f"layer {layer} out of range for a model with {n} layers")
    return layer % n


def input_device(model: nn.Module) -> torch.device:
    """Device the input ids must be on (the embedding's; right also for device_map='auto')."""
    return unwrap_model(model).get_input_embeddings().weight.device
