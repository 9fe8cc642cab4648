"""Tokenization shared by the toolkit: left padding without mutating the tokenizer."""

from __future__ import annotations

from typing import Any, Sequence

import torch

__all__ = ["as_text_list", "encode_left_padded", "pad_token_id", "position_ids"]


def as_text_list(inputs: str | Sequence[str]) -> tuple[list[str], bool]:
    """(list of texts, whether a single str was given)."""
    if isinstance(inputs, str):
        return [inputs], True
    texts = list(inputs)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise TypeError("inputs must be a str or a non-empty list of str")
    return texts, False


def pad_token_id(tokenizer: Any) -> int:
    """The pad id to use: the tokenizer's pad token, else eos (common for base LMs), else 0.
    Padding is always masked out, so the choice only has to be a valid id."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if isinstance(candidate, list):
            candidate = candidate[0] if candidate else None
        if candidate is not None:
            return int(candidate)
    return 0


def encode_left_padded(tokenizer: Any, texts: Sequence[str], device: torch.device | str = "cpu"
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenize `texts` into LEFT-padded (input_ids, attention_mask) on `device`.

    Left padding keeps every prompt's last token at index -1, which batched generation and
    `positions=-1` rely on. The padding is done here rather than by flipping
    `tokenizer.padding_side`, so the caller's tokenizer is never mutated (even if this raises).
    A text that already starts with the BOS token (e.g. from a chat template) is encoded without
    special tokens, so it does not get a second BOS.
    """
    bos = tokenizer.bos_token
    has_bos = [bool(bos) and text.startswith(bos) for text in texts]
    rows: list[list[int]] = [[] for _ in texts]
    # One batched tokenizer call per kind of text (with or without a leading BOS), not one per text.
    for starts_with_bos in (False, True):
        indices = [i for i, flag in enumerate(has_bos) if flag == starts_with_bos]
        if indices:
            encoded = tokenizer([texts[i] for i in indices], add_special_tokens=not starts_with_bos)["input_ids"]
            for i, ids in zip(indices, encoded):
                rows[i] = list(ids)
    for text, ids in zip(texts, rows):
        if len(ids) == 0:
            raise ValueError(f"text {text!r} tokenizes to zero tokens")
    width = max(len(r) for r in rows)
    pad = pad_token_id(tokenizer)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, ids in enumerate(rows):
        input_ids[i, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
        attention_mask[i, width - len(ids):] = 1
    return input_ids.to(device), attention_mask.to(device)


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that start at 0 on each prompt's first real token.

    Without them a left-padded row is shifted by its padding, which changes the
    activations of models with absolute position embeddings (GPT-2); rotary
    models are unaffected either way.
    """
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)
