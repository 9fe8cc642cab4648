"""Activation patching: which layers carry the information that changes the output?"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ._inputs import encode_left_padded, position_ids
from .activations import get_activations
from .layers import get_layers, input_device, layer_output_tensor, normalize_layer, num_layers, replace_layer_output

__all__ = ["activation_patching"]

Metric = Callable[[torch.Tensor], float] | str | int


def _metric_fn(tokenizer: Any, metric: Metric) -> Callable[[torch.Tensor], float]:
    if callable(metric):
        return lambda logits: float(metric(logits))
    if isinstance(metric, str):
        ids = tokenizer(metric, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ValueError(f"target {metric!r} tokenizes to nothing")
        target = ids[0]  # the first token of the target is what the next-token logits predict
    else:
        target = int(metric)
    return lambda logits: float(logits.float().log_softmax(dim=-1)[target])


def _final_logits(model: nn.Module, tokenizer: Any, prompt: str) -> torch.Tensor:
    input_ids, attention_mask = encode_left_padded(tokenizer, [prompt], input_device(model))
    with torch.no_grad():
        return model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids(attention_mask),
                     use_cache=False).logits[0, -1].float().cpu()


def activation_patching(model: nn.Module, tokenizer: Any, clean_prompt: str, corrupted_prompt: str,
                        layers: Sequence[int] | None = None, position: int | Sequence[int] = -1,
                        metric: Metric | None = None) -> dict[str, Any]:
    """Patch the clean run's residual stream into the corrupted run, one layer at a time.

    For each layer L: run `corrupted_prompt`, but replace layer L's output at `position` with
    its value from `clean_prompt`, and measure `metric` on the next-token logits at the last
    position. Positions index each prompt separately (negative = from the end, so -1 pairs
    the last tokens even when the prompts differ in length).
    Args:
        layers: layers to patch (default: all).
        position: an int or a list of ints.
        metric: a callable `logits[vocab] -> float`, or a target token (str: its first token,
            or an int id) whose log-probability is measured. Required.
    Returns:
        `{"layers": [...], "clean": float, "corrupted": float,
          "patched": {layer: float}, "effect": {layer: patched - corrupted},
          "normalized_effect": {layer: (patched - corrupted) / (clean - corrupted)}}`
        (normalized_effect is nan when clean == corrupted; 1.0 means patching that layer fully
        restores the clean behaviour).
    Example: `activation_patching(model, tok, "The Eiffel Tower is in", "The Colosseum is in", metric=" Paris")`
    """
    if metric is None:
        raise ValueError("metric is required: a callable on the last-position logits, or a target token")
    measure = _metric_fn(tokenizer, metric)
    wanted = list(range(num_layers(model))) if layers is None else [normalize_layer(model, layer) for layer in layers]
    clean_acts = get_activations(model, tokenizer, clean_prompt, wanted, positions=position)
    clean = measure(_final_logits(model, tokenizer, clean_prompt))
    corrupted = measure(_final_logits(model, tokenizer, corrupted_prompt))
    blocks = get_layers(model)
    offsets = [position] if isinstance(position, int) else list(position)

    patched: dict[int, float] = {}
    for layer in wanted:
        # [n_positions, d] clean values to write into the corrupted run
        value = clean_acts[layer].reshape(len(offsets), -1)

        def hook(module: nn.Module, args: Any, output: Any, value: torch.Tensor = value) -> Any:
            hidden = layer_output_tensor(output)
            seq = hidden.shape[1]
            if any(not -seq <= o < seq for o in offsets):
                raise IndexError(f"position {offsets} is outside the {seq}-token corrupted prompt")
            index = [o % seq for o in offsets]
            out = hidden.clone()
            out[:, index] = value.to(hidden.device, hidden.dtype)
            return replace_layer_output(output, out)

        handle = blocks[layer].register_forward_hook(hook, prepend=True)
        try:
            patched[layer] = measure(_final_logits(model, tokenizer, corrupted_prompt))
        finally:
            handle.remove()

    gap = clean - corrupted
    effect = {layer: patched[layer] - corrupted for layer in wanted}
    normalized = {layer: (effect[layer] / gap if gap != 0 else math.nan) for layer in wanted}
    return {"layers": wanted, "clean": clean, "corrupted": corrupted, "patched": patched,
            "effect": effect, "normalized_effect": normalized}
