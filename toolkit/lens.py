"""Read the residual stream in vocabulary space: logit lens and nearest tokens."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .activations import get_activations
from .layers import get_final_norm, get_unembedding, num_layers, unwrap_model

__all__ = ["unembed", "logit_lens", "nearest_tokens"]


def unembed(model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """Logits for residual-stream vectors: final norm, then lm_head, then (Gemma 2/3) the
    final logit soft-capping, exactly as the model does after its last layer.

    Args:
        hidden: [..., d_model] raw residual stream (e.g. from `get_activations`), any device/dtype.
    Returns:
        float32 CPU logits [..., vocab].
    Example: `logits = unembed(model, get_activations(model, tok, "Hi", 5, positions=-1))`
    """
    norm, head = get_final_norm(model), get_unembedding(model)
    head_weight = head.weight
    # Each module gets the input on its own device/dtype (they can differ with device_map="auto").
    norm_device, norm_dtype = _placement(norm, head_weight)
    with torch.no_grad():
        normed = norm(hidden.to(norm_device, norm_dtype))
        logits = head(normed.to(head_weight.device, head_weight.dtype)).float()
    config = unwrap_model(model).config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    cap = getattr(text_config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits.cpu()


def _placement(module: nn.Module, fallback: torch.Tensor) -> tuple[torch.device, torch.dtype]:
    for parameter in module.parameters():
        return parameter.device, parameter.dtype
    return fallback.device, fallback.dtype  # parameter-free norm


def logit_lens(model: nn.Module, tokenizer: Any, inputs: str | Sequence[str], layers: Sequence[int] | None = None,
               position: int = -1, top_k: int = 5, return_logits: bool = False
               ) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
    """Logit lens: decode each layer's residual stream at one position with the model's own
    final norm + unembedding (`unembed`). The last layer's lens equals the model's logits.

    Args:
        inputs: a prompt, or a list of prompts.
        layers: layer indices (default: all).
        position: token position to read (-1 = last token).
        top_k: tokens reported per layer.
        return_logits: also include the full float32 logits [vocab] under "logits".
    Returns:
        For one prompt: a list with one dict per layer:
        `{"layer": int, "tokens": [str], "token_ids": [int], "probs": [float], ("logits": Tensor)}`
        (probs are softmax probabilities of the lens logits). For a list of prompts: a list of
        such lists.
    Example: `for row in logit_lens(model, tok, "The capital of France is"): print(row["layer"], row["tokens"])`
    """
    wanted = list(range(num_layers(model))) if layers is None else list(layers)
    acts = get_activations(model, tokenizer, inputs, wanted, positions=position)
    single = isinstance(inputs, str)
    n_prompts = 1 if single else len(acts[wanted[0]])
    results: list[list[dict[str, Any]]] = [[] for _ in range(n_prompts)]
    for layer in wanted:
        logits = unembed(model, acts[layer])
        logits = logits[None] if single else logits
        probs = logits.softmax(dim=-1)
        top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
        for i in range(n_prompts):
            ids = top.indices[i].tolist()
            row: dict[str, Any] = {"layer": layer, "tokens": [tokenizer.decode([t]) for t in ids],
                                   "token_ids": ids, "probs": top.values[i].tolist()}
            if return_logits:
                row["logits"] = logits[i]
            results[i].append(row)
    return results[0] if single else results


def nearest_tokens(model: nn.Module, tokenizer: Any, vector: torch.Tensor, top_k: int = 10,
                   space: str = "unembedding") -> list[tuple[str, float]]:
    """Tokens whose vectors have the highest cosine similarity with `vector`.

    Compares against the rows of the unembedding matrix (lm_head weight, default: "which tokens
    does this direction promote") or, with `space="embedding"`, the input embedding matrix.
    No final norm is applied. Returns `[(token_text, cosine), ...]`, most similar first.
    Example: `nearest_tokens(model, tok, steering_vector, top_k=5)`
    """
    if space == "unembedding":
        matrix = get_unembedding(model).weight
    elif space == "embedding":
        matrix = unwrap_model(model).get_input_embeddings().weight
    else:
        raise ValueError("space must be 'unembedding' or 'embedding'")
    with torch.no_grad():
        v = torch.as_tensor(vector).detach().to(matrix.device, torch.float32).reshape(-1)
        # Chunked so a 256k-token vocabulary is not copied to float32 all at once.
        sims = torch.cat([torch.nn.functional.cosine_similarity(chunk.float(), v[None, :], dim=-1)
                          for chunk in matrix.detach().split(16384)])
        top = sims.topk(min(top_k, sims.shape[0]))
    return [(tokenizer.decode([i]), float(s)) for i, s in zip(top.indices.tolist(), top.values.tolist())]
