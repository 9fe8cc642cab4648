"""Context managers that modify the residual stream: steering vectors and activation noise."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from .layers import get_layers, layer_output_tensor, normalize_layer, replace_layer_output

__all__ = ["steer", "add_noise"]

_MODES = ("add", "ablate", "project_out")


def _position_index(positions: int | Sequence[int] | None, seq: int) -> list[int] | None:
    """Indices into this forward pass's sequence; out-of-range positions are skipped."""
    if positions is None:
        return None
    wanted = [positions] if isinstance(positions, int) else list(positions)
    return sorted({p % seq for p in wanted if -seq <= p < seq})


def _apply_at(hidden: torch.Tensor, positions: int | Sequence[int] | None,
              change: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """`change` applied to `hidden` [batch, seq, d] at `positions` (None = all)."""
    index = _position_index(positions, hidden.shape[1])
    if index is None:
        return change(hidden)
    out = hidden.clone()
    if index:
        out[:, index] = change(hidden[:, index])
    return out


def _normalize_vectors(model: nn.Module, vectors: Mapping[int, torch.Tensor] | tuple[int, torch.Tensor]
                       ) -> dict[int, torch.Tensor]:
    if isinstance(vectors, tuple) and len(vectors) == 2 and isinstance(vectors[0], int):
        vectors = {vectors[0]: vectors[1]}
    if not isinstance(vectors, Mapping):
        raise TypeError("vectors must be {layer: vector} or a (layer, vector) tuple")
    out = {}
    for layer, vector in vectors.items():
        vector = torch.as_tensor(vector).detach()
        if vector.ndim != 1:
            raise ValueError(f"steering vector for layer {layer} must be 1-D [d_model], got {tuple(vector.shape)}")
        out[normalize_layer(model, layer)] = vector
    return out


@contextmanager
def _hooks(model: nn.Module, layer_hooks: dict[int, Callable]) -> Iterator[None]:
    """Register forward hooks on decoder layers for the duration of the block, always removed."""
    blocks = get_layers(model)
    handles = []
    try:
        for layer, hook in layer_hooks.items():
            # prepend=True: run before transformers' own output-capturing hooks, so
            # output_hidden_states and get_activations report the modified residual stream.
            handles.append(blocks[layer].register_forward_hook(hook, prepend=True))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def steer(model: nn.Module, vectors: Mapping[int, torch.Tensor] | tuple[int, torch.Tensor],
          strength: float = 1.0, positions: int | Sequence[int] | None = None, mode: str = "add"
          ) -> Iterator[None]:
    """Modify decoder-layer outputs (the residual stream) inside a `with` block.

    Modes, with h the layer output at a steered position and v the vector:
      - "add": h + strength * v   (v is used as given, not normalised)
      - "ablate": h - strength * (h . v_hat) v_hat   (v_hat = v / |v|; strength 1 removes the
        component along v entirely, 0.5 halves it)
      - "project_out": the same as "ablate" (an alias).
    strength == 0 leaves the model bit-identical (the hooks do nothing).
    Args:
        vectors: `{layer: vector}` or `(layer, vector)`; vectors are 1-D [d_model], any
            device/dtype (moved to the layer's). Negative layers count from the end.
        positions: None steers every token of every forward pass, including tokens generated
            inside the block. Ints index the sequence of each forward pass (negative from the
            end; -1 is the last token; out-of-range ones are skipped). During cached generation
            each new token is its own forward pass of length 1, so e.g. positions=-1 also steers
            every generated token.
    Hooks are removed on exit, even if the block raises.
    Example: `with steer(model, {12: v}, strength=4.0): print(generate(model, tok, p))`
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    specs = _normalize_vectors(model, vectors)

    def make_hook(vector: torch.Tensor) -> Callable:
        cache: dict[tuple, torch.Tensor] = {}

        def hook(module: nn.Module, args: Any, output: Any) -> Any:
            if strength == 0:
                return None  # exact no-op
            hidden = layer_output_tensor(output)
            key = (hidden.device, hidden.dtype)
            if key not in cache:
                cache[key] = vector.to(hidden.device, hidden.dtype)
            v = cache[key]
            if mode == "add":
                new = _apply_at(hidden, positions, lambda h: h + strength * v)
            else:
                # Project in float32: bf16 dot products over thousands of dims lose precision.
                unit = vector.to(hidden.device, torch.float32)
                unit = unit / unit.norm()

                def remove(h: torch.Tensor) -> torch.Tensor:
                    hf = h.float()
                    return (hf - strength * (hf @ unit)[..., None] * unit).to(h.dtype)
                new = _apply_at(hidden, positions, remove)
            return replace_layer_output(output, new)
        return hook

    with _hooks(model, {layer: make_hook(vector) for layer, vector in specs.items()}):
        yield


@contextmanager
def add_noise(model: nn.Module, layers: int | Sequence[int], scale: float, seed: int | None = None,
              positions: int | Sequence[int] | None = None) -> Iterator[None]:
    """Add Gaussian noise N(0, scale^2) to the residual stream at `layers` inside a `with` block.

    Activation fuzzing: each forward pass draws fresh noise; with `seed` the whole sequence of
    draws is reproducible. `scale` is an absolute standard deviation (compare it with the
    residual norm / sqrt(d_model) at that layer). `positions` works as in `steer`.
    Hooks are removed on exit, even if the block raises.
    Example: `with add_noise(model, [10, 11], scale=2.0, seed=0): out = generate(model, tok, p)`
    """
    wanted = [layers] if isinstance(layers, int) else list(layers)
    generators: dict[torch.device, torch.Generator] = {}

    def generator_for(device: torch.device) -> torch.Generator | None:
        if seed is None:
            return None
        if device not in generators:
            generators[device] = torch.Generator(device=device).manual_seed(seed)
        return generators[device]

    def hook(module: nn.Module, args: Any, output: Any) -> Any:
        if scale == 0:
            return None
        hidden = layer_output_tensor(output)

        def noisy(h: torch.Tensor) -> torch.Tensor:
            noise = torch.randn(h.shape, generator=generator_for(h.device), device=h.device, dtype=torch.float32)
            return h + (scale * noise).to(h.dtype)
        return replace_layer_output(output, _apply_at(hidden, positions, noisy))

    with _hooks(model, {normalize_layer(model, layer): hook for layer in wanted}):
        yield
