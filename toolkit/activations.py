"""Read the residual stream at chosen layers and token positions."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ._inputs import as_text_list, encode_left_padded, position_ids
from .layers import get_layers, input_device, layer_output_tensor, normalize_layer

__all__ = ["get_activations", "Positions"]

Positions = int | Sequence[int] | None


class _StopForward(Exception):
    """Raised from a hook on the deepest requested layer to skip the rest of the forward pass."""


def select_positions(hidden: torch.Tensor, attention_mask: torch.Tensor, positions: Positions) -> torch.Tensor:
    """Pick token positions from a left-padded [batch, seq, d] tensor.

    Non-negative positions count from each prompt's first real token (padding skipped);
    negative ones count from the end (-1 = last token). None keeps every position, with the
    padding positions set to 0.
    """
    batch, seq, _ = hidden.shape
    lengths = attention_mask.sum(dim=1).to(hidden.device)
    if positions is None:
        return torch.where(attention_mask.to(hidden.device, torch.bool)[..., None], hidden, torch.zeros_like(hidden))
    single = isinstance(positions, int)
    wanted = [positions] if single else [int(p) for p in positions]
    columns = []
    for p in wanted:
        too_far = (lengths <= p) if p >= 0 else (lengths < -p)
        if bool(too_far.any()):
            raise IndexError(f"position {p} is outside a prompt of {int(lengths.min())} tokens")
        columns.append(seq - lengths + p if p >= 0 else torch.full_like(lengths, seq + p))
    index = torch.stack(columns, dim=1)  # [batch, n_positions]
    picked = hidden[torch.arange(batch, device=hidden.device)[:, None], index]
    return picked[:, 0] if single else picked


def get_activations(model: nn.Module, tokenizer: Any, inputs: str | Sequence[str], layers: int | Sequence[int],
                    positions: Positions = None, batch_size: int = 16) -> torch.Tensor | dict[int, torch.Tensor]:
    """Residual-stream activations (the output of decoder layer L) for the given prompts.

    Convention: layer L's output equals `output_hidden_states=True`'s `hidden_states[L + 1]`,
    except for the LAST layer, where transformers replaces `hidden_states[-1]` with the
    final-normed state; here you always get the raw layer output (apply
    `toolkit.get_final_norm(model)` yourself if you want the normed one).
    The forward pass stops right after the deepest requested layer, so early layers are cheap,
    and runs under torch.inference_mode; the tensors returned are ordinary ones (a probe can be
    trained on them, in-place edits work).
    Hooks are removed even on error. Steering/noise contexts active around the call apply.

    Args:
        inputs: a prompt (str) or list of prompts; batched with left padding.
        layers: a layer index or list of indices (negative counts from the end).
        positions: -1 (last token), an int, a list of ints, or None for all tokens.
            Non-negative positions count from each prompt's first real token.
        batch_size: prompts per forward pass.
    Returns:
        float32 CPU tensors. For a single int layer a tensor, else `{layer: tensor}`.
        Shape: [batch, d] for an int position, [batch, n_positions, d] for a list,
        [batch, seq, d] for None (left-padded, padding zeroed). A single str input drops the
        batch dimension.
    Example: `acts = get_activations(model, tok, ["Hi", "Hello there"], layers=[4, 8], positions=-1)`
    """
    texts, single_text = as_text_list(inputs)
    single_layer = isinstance(layers, int)
    requested = [layers] if single_layer else list(layers)
    if not requested:
        raise ValueError("layers must name at least one layer")
    wanted = sorted({normalize_layer(model, layer) for layer in requested})
    deepest = wanted[-1]
    blocks = get_layers(model)
    device = input_device(model)

    chunks: dict[int, list[torch.Tensor]] = {layer: [] for layer in wanted}
    for start in range(0, len(texts), batch_size):
        input_ids, attention_mask = encode_left_padded(tokenizer, texts[start:start + batch_size], device)
        captured: dict[int, torch.Tensor] = {}

        def make_hook(layer: int):
            def hook(module: nn.Module, args: Any, output: Any) -> None:
                captured[layer] = layer_output_tensor(output).detach()
                if layer == deepest:
                    raise _StopForward
            return hook

        handles = []
        try:
            for layer in wanted:
                # Appended (not prepended) so it sees what steering hooks on this layer produced.
                handles.append(blocks[layer].register_forward_hook(make_hook(layer)))
            # inference_mode, not no_grad: it also skips autograd's version counting and view
            # tracking (2-4% here). The tensors it makes are read-only to autograd, so only
            # copies taken outside the block (select_positions below) are returned.
            with torch.inference_mode():
                model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids(attention_mask),
                      use_cache=False)
        except _StopForward:
            pass
        finally:
            for handle in handles:
                handle.remove()
        missing = [layer for layer in wanted if layer not in captured]
        if missing:
            raise RuntimeError(f"layers {missing} did not run during the forward pass")
        for layer in wanted:
            chunks[layer].append(_ordinary(select_positions(captured[layer], attention_mask, positions).float().cpu()))

    result = {layer: _concat(parts, positions is None) for layer, parts in chunks.items()}
    if single_text:
        result = {layer: t[0] for layer, t in result.items()}
    out = {layer: result[normalize_layer(model, layer)] for layer in requested}
    return out[requested[0]] if single_layer else out


def _ordinary(tensor: torch.Tensor) -> torch.Tensor:
    """A tensor autograd accepts: probes trained on activations must be able to save them
    for backward, which inference tensors refuse. Outside inference mode the indexing in
    select_positions already made a new ordinary tensor; this covers any path that did not."""
    return tensor.clone() if tensor.is_inference() and not torch.is_inference_mode_enabled() else tensor


def _concat(parts: list[torch.Tensor], all_positions: bool) -> torch.Tensor:
    if all_positions and len(parts) > 1:
        # Batches padded to different lengths: left-pad with zeros to the longest.
        width = max(p.shape[1] for p in parts)
        parts = [torch.nn.functional.pad(p, (0, 0, width - p.shape[1], 0)) for p in parts]
    return torch.cat(parts, dim=0)
