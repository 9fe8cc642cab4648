"""Interpretability tools on the sandbox's model: generation, activations, logit lens and concept steering.

Why an interface: an agent given only these functions can probe a model (even a hidden one) without
code access to the sandbox, its files or the model's name. Each function is a thin, validated wrapper
around `toolkit`, and returns small JSON-friendly results (rounded floats, top-k lists) an LLM can read.

Which model: the configured model whose var_name (or name) is in the env var `INTERFACE_MODEL`
(default "model"; if unset and the sandbox has exactly one model, that one). `SEER_*` variables
are stripped from sandboxes, hence the plain name. A PEFT adapter is loaded on its base model.
Everything is deterministic at temperature 0 (greedy decoding).
"""

from __future__ import annotations

import os
from typing import Any

import toolkit
from seer_mcp.interface import configured_model, expose, load_model
from toolkit._inputs import encode_left_padded
from toolkit.layers import normalize_layer

# Limits that keep one call's cost and answer size reasonable for an agent.
MAX_NEW_TOKENS = 1024
MAX_TOP_K = 50
TOP_DIMS = 10
DEFAULT_BASELINE_WORDS = ["table", "chair", "paper", "window", "bread", "music", "shoe", "clock"]


ENTRY = configured_model(os.environ.get("INTERFACE_MODEL"))
model, tokenizer = load_model(os.environ.get("INTERFACE_MODEL"))


# ---- helpers (not exposed) ----

def _round(value: float, digits: int = 4) -> float:
    return round(float(value), digits)


def _check_max_new_tokens(max_new_tokens: int) -> None:
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS}, got {max_new_tokens}")


def _layer_indices(layers: list[int] | None) -> list[int]:
    """Layer indices in [0, n); negative ones count from the end. None means all layers."""
    n = toolkit.num_layers(model)
    if layers is None:
        return list(range(n))
    if not layers:
        raise ValueError(f"layers must name at least one layer (0..{n - 1}, or negative from the end)")
    try:
        return [normalize_layer(model, int(layer)) for layer in layers]
    except IndexError as exc:
        raise ValueError(f"{exc}; use 0..{n - 1} or negative indices from the end") from None


def _prompt_text(prompt: str, chat: bool, system: str | None = None, prefill: str | None = None) -> str:
    """The exact text fed to the model: chat-formatted with the model's template, or raw."""
    if chat:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("this model's tokenizer has no chat template; call again with chat=False")
        return toolkit.format_chat(tokenizer, prompt, system=system, prefill=prefill)
    if system is not None:
        raise ValueError("system needs chat=True (a raw prompt has no system turn); put it in the prompt instead")
    return prompt + (prefill or "")


def _token_at(text: str, position: int) -> tuple[str, int]:
    """(the token read at `position`, the prompt's length in tokens), tokenized as the toolkit does."""
    ids = encode_left_padded(tokenizer, [text])[0][0].tolist()
    if not -len(ids) <= position < len(ids):
        raise ValueError(f"position {position} is outside the prompt's {len(ids)} tokens; "
                         f"use 0..{len(ids) - 1} or -1 for the last token")
    return tokenizer.decode([ids[position]]), len(ids)


def _generate(text: str, max_new_tokens: int, temperature: float = 0.0) -> str:
    _check_max_new_tokens(max_new_tokens)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    return toolkit.generate(model, tokenizer, text, max_new_tokens=max_new_tokens, temperature=temperature)[0]


# ---- exposed ----

@expose
def model_info() -> dict[str, Any]:
    """Describe the model: name ("<hidden>" if the operator hid it), whether it is a PEFT adapter,
    number of decoder layers, hidden size (residual-stream width), dtype, device, parameter count,
    and whether the tokenizer has a chat template. Layer indices elsewhere are 0..layers-1."""
    parameter = next(model.parameters())
    devices = sorted({str(p.device) for p in model.parameters()})
    return {
        "name": "<hidden>" if ENTRY.get("hidden") else ENTRY.get("name", "<hidden>"),
        "is_peft": bool(ENTRY.get("is_peft")),
        "layers": toolkit.num_layers(model),
        "hidden_size": toolkit.hidden_size(model),
        "dtype": str(parameter.dtype).replace("torch.", ""),
        "device": devices[0] if len(devices) == 1 else devices,
        "parameters": sum(p.numel() for p in model.parameters()),
        "has_chat_template": bool(getattr(tokenizer, "chat_template", None)),
    }


@expose
def generate(prompt: str, max_new_tokens: int = 64, temperature: float = 0.0, chat: bool = True,
             system: str | None = None, prefill: str | None = None) -> str:
    """Generate the model's continuation of a prompt and return only the new text.

    Args:
        prompt: the user message (chat=True) or the raw text to continue (chat=False).
        max_new_tokens: at most this many tokens are generated (1..1024).
        temperature: 0 = greedy and deterministic; > 0 samples at that temperature.
        chat: wrap the prompt in the model's chat template as a user turn, ending with the assistant-turn header.
        system: optional system prompt (only with chat=True).
        prefill: optional text the reply is forced to start with; generation continues after it.
            The returned text does NOT repeat the prefill.
    """
    return _generate(_prompt_text(prompt, chat, system, prefill), max_new_tokens, temperature)


@expose
def get_activations(prompt: str, layers: list[int], position: int = -1, chat: bool = False,
                    include_vector: bool = False) -> dict[str, Any]:
    """Read the residual stream (the output of decoder layer L) at one token position.

    Args:
        prompt: the text to run (a user message if chat=True).
        layers: layer indices, 0..layers-1, negative counts from the end (-1 = last layer; its output is
            read before the final norm).
        position: token position, -1 = last token; non-negative counts from the first token (incl. BOS).
        chat: wrap the prompt in the chat template first (read at the end of the assistant-turn header).
        include_vector: also return the full vector, rounded to 4 decimals (long for large models).
    Returns:
        {"token": the token read, "n_tokens": prompt length, "layers": [{"layer", "norm", "mean", "std",
        "top_dims": [[dimension, value], ...] (the 10 largest by magnitude), ("vector")}]}.
    """
    text = _prompt_text(prompt, chat)
    token, n_tokens = _token_at(text, position)
    wanted = _layer_indices(layers)
    acts = toolkit.get_activations(model, tokenizer, text, wanted, positions=position)
    rows = []
    for layer in wanted:
        vector = acts[layer]
        top = vector.abs().topk(min(TOP_DIMS, vector.numel())).indices.tolist()
        row: dict[str, Any] = {"layer": layer, "norm": _round(vector.norm()), "mean": _round(vector.mean()),
                               "std": _round(vector.std()), "top_dims": [[i, _round(vector[i])] for i in top]}
        if include_vector:
            row["vector"] = [_round(v) for v in vector.tolist()]
        rows.append(row)
    return {"token": token, "n_tokens": n_tokens, "layers": rows}


@expose
def logit_lens(prompt: str, position: int = -1, top_k: int = 5, layers: list[int] | None = None,
               chat: bool = False) -> dict[str, Any]:
    """Logit lens: decode each layer's residual stream at one position with the model's final norm and
    unembedding, showing which next tokens each layer already predicts. The last layer equals the model's
    own next-token prediction.

    Args:
        prompt: the text to run (a user message if chat=True).
        position: token position, -1 = last token (predictions are for the token after it).
        top_k: tokens reported per layer (1..50).
        layers: layer indices (default: all), negative counts from the end.
        chat: wrap the prompt in the chat template first.
    Returns:
        {"token": the token read, "layers": [{"layer", "tokens": [...], "probs": [...]}]}, probabilities
        rounded to 4 decimals, most likely first.
    """
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
    text = _prompt_text(prompt, chat)
    token, _ = _token_at(text, position)
    rows = toolkit.logit_lens(model, tokenizer, text, layers=_layer_indices(layers), position=position, top_k=top_k)
    return {"token": token, "layers": [{"layer": row["layer"], "tokens": row["tokens"],
                                        "probs": [_round(p) for p in row["probs"]]} for row in rows]}


@expose
def steered_generate(prompt: str, concept: str, layer: int, strength: float = 4.0,
                     baseline_words: list[str] | None = None, max_new_tokens: int = 64,
                     chat: bool = True) -> dict[str, Any]:
    """Generate greedily while adding a concept vector to the residual stream (activation steering).

    The vector is the activation at `layer` for "Tell me about {concept}." minus the mean over the same
    sentence with each baseline word (last token). During generation, strength * vector is added to layer
    `layer`'s output at every token. Strength 0 gives exactly `generate(prompt, max_new_tokens, chat=chat)`.

    Args:
        prompt: the user message (chat=True) or raw text (chat=False).
        concept: the concept word or phrase, e.g. "ocean".
        layer: the decoder layer to steer (negative counts from the end); middle layers usually work best.
        strength: multiplier of the (unnormalised) vector; its norm is returned to help choose it.
        baseline_words: neutral words to subtract (default: a fixed list of everyday nouns).
        max_new_tokens: at most this many tokens are generated (1..1024).
        chat: wrap the prompt in the model's chat template.
    Returns:
        {"text": the steered continuation, "layer", "strength", "vector_norm",
        "vector_top_tokens": tokens the vector's direction promotes most (unembedding cosine)}.
    """
    _check_max_new_tokens(max_new_tokens)
    (index,) = _layer_indices([layer])
    if not concept.strip():
        raise ValueError("concept must be a non-empty word or phrase")
    baseline = DEFAULT_BASELINE_WORDS if baseline_words is None else list(baseline_words)
    if not baseline:
        raise ValueError("baseline_words must be a non-empty list of words, or omitted for the default list")
    text = _prompt_text(prompt, chat)
    vector = toolkit.concept_vector(model, tokenizer, concept, baseline, index)
    with toolkit.steer(model, {index: vector}, strength=strength):
        steered = _generate(text, max_new_tokens)
    top_tokens = toolkit.nearest_tokens(model, tokenizer, vector, top_k=5)
    return {"text": steered, "layer": index, "strength": strength, "vector_norm": _round(vector.norm()),
            "vector_top_tokens": [token for token, _ in top_tokens]}
