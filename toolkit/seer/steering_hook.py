"""Steer a model by adding a vector to one decoder layer's output inside a `with` block (Seer's steering_hook.py).

    from steering_hook import create_steering_hook
    with create_steering_hook(model, layer_idx=15, vector=steering_vec, strength=2.0):
        output = model.generate(**inputs, max_new_tokens=40)

Inside the block, layer `layer_idx`'s output h (the residual stream) becomes h + strength * vector
at every position from `start_pos` on, in every forward pass: `model(...)`, `model.generate(...)`
and the tokens it generates. The hook is removed on exit, even if the block raises; the object
can be entered again. Built on `toolkit.steer` (help(toolkit.steer) for ablation and more layers).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self

import torch
from torch import nn

from toolkit import hidden_size, num_layers, steer, unwrap_model

__all__ = ["SteeringHook", "create_steering_hook"]

_DEFAULT_LONGEST = 1 << 17  # positions steered when a config names no maximum (start_pos > 0 only)


class SteeringHook:
    """A reusable context manager: entering registers the steering hook, exiting removes it."""

    def __init__(self, model: nn.Module, layer_idx: int, vector: Any, strength: float = 1.0,
                 start_pos: int = 0) -> None:
        layers = num_layers(model)
        if not -layers <= layer_idx < layers:
            raise ValueError(f"layer_idx {layer_idx} out of bounds. Model has {layers} layers (0-{layers - 1})")
        vector = torch.as_tensor(vector).detach()
        width = hidden_size(model)
        if vector.ndim != 1 or vector.shape[0] != width:
            raise ValueError(f"vector must have shape ({width},) (the model's hidden size), got {tuple(vector.shape)}")
        self.model, self.layer_idx, self.vector, self.strength = model, layer_idx, vector, strength
        self.start_pos = start_pos
        self._positions = _positions_from(model, start_pos)
        self._active: AbstractContextManager[None] | None = None

    def __enter__(self) -> Self:
        if self._active is not None:
            raise RuntimeError("this steering hook is already active; make a second one with create_steering_hook")
        context = steer(self.model, {self.layer_idx: self.vector}, strength=self.strength, positions=self._positions)
        context.__enter__()
        self._active = context
        return self

    def __exit__(self, exc_type: type[BaseException] | None = None, exc: BaseException | None = None,
                 traceback: TracebackType | None = None) -> None:  # defaults: Seer's hook allowed a bare __exit__()
        context, self._active = self._active, None
        if context is not None:
            context.__exit__(exc_type, exc, traceback)


def create_steering_hook(model: nn.Module, layer_idx: int, vector: Any, strength: float = 1.0,
                         start_pos: int = 0) -> SteeringHook:
    """A context manager adding `strength * vector` to layer `layer_idx`'s output while active.

    Args:
        layer_idx: the decoder layer (0-indexed; negative counts from the end).
        vector: 1-D, the model's hidden size, any device or dtype (a tensor, array or list).
        strength: the multiplier; 0 leaves the model unchanged.
        start_pos: steer positions start_pos onwards of each forward pass (0: all of them). As in
            Seer, a generated token is a forward pass of length 1, so start_pos > 0 steers only
            the prompt's positions from start_pos; a negative start_pos steers the last -start_pos.
    Raises ValueError for a layer out of range or a vector of the wrong size.
    Example: `with create_steering_hook(model, 15, act2 - act1, strength=2.0): out = model.generate(**inputs)`
    """
    return SteeringHook(model, layer_idx, vector, strength, start_pos)


def _positions_from(model: nn.Module, start_pos: int) -> range | None:
    """toolkit.steer's `positions` for Seer's `hidden[:, start_pos:]`."""
    if start_pos == 0:
        return None  # every position, the cheap path
    if start_pos < 0:
        return range(start_pos, 0)
    # steer takes explicit positions, so "to the end" is up to the longest sequence the model takes.
    config: Any = unwrap_model(model).config
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    longest = getattr(config, "max_position_embeddings", None) or _DEFAULT_LONGEST
    return range(start_pos, max(longest, start_pos + 1))
