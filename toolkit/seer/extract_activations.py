"""Read one decoder layer's hidden state at one token (Seer's extract_activations.py).

    from extract_activations import extract_activation
    act = extract_activation(model, tokenizer, "Hello world", layer_idx=15)       # the last token
    act = extract_activation(model, tokenizer, [{"role": "user", "content": "Hi"}], layer_idx=15)

The value is `output_hidden_states`'s `hidden_states[layer_idx + 1][0, position]`: layer
`layer_idx`'s output, the residual stream that `create_steering_hook` adds to at that layer, so
`act2 - act1` is a steering vector. Built on `toolkit.get_activations` (the forward pass stops
after that layer; help(toolkit.get_activations) reads many prompts, layers or positions at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from toolkit import format_chat, get_activations, get_final_norm, num_layers

__all__ = ["extract_activation"]


def extract_activation(model: nn.Module, tokenizer: Any, text: str | Sequence[dict[str, str]], layer_idx: int,
                       position: int = -1) -> torch.Tensor:
    """Layer `layer_idx`'s hidden state at token `position` of `text`: a float32 CPU tensor [hidden_size].

    Args:
        text: a string, tokenized as it is, or a list of {"role", "content"} messages, put in the
            tokenizer's chat template with the assistant's turn opened.
        layer_idx: the decoder layer (0-indexed; negative counts from the end).
        position: the token (-1: the last; 0: the first, BOS included when the tokenizer adds one).
    For the last layer the value is final-normed, as transformers' hidden_states[-1] is.
    Raises ValueError for a layer out of range, IndexError for a position outside the text.
    Example: `steering_vec = extract_activation(model, tok, "I am happy", 20) - extract_activation(model, tok, "I am", 20)`
    """
    layers = num_layers(model)
    if not -layers <= layer_idx < layers:
        raise ValueError(f"layer_idx {layer_idx} out of bounds. Model has {layers} layers (0-{layers - 1})")
    prompt = text if isinstance(text, str) else format_chat(tokenizer, list(text))
    activation = get_activations(model, tokenizer, prompt, layers=layer_idx, positions=position)
    assert isinstance(activation, torch.Tensor)  # one layer asked for: one tensor
    if layer_idx % layers == layers - 1:
        # Seer read hidden_states[-1], which transformers replaces with the final-normed state.
        norm = get_final_norm(model)
        weight = next(norm.parameters(), None)
        with torch.no_grad():
            normed = norm(activation if weight is None else activation.to(weight.device, weight.dtype))
        activation = normed.float().cpu()
    return activation
