"""Batched text generation that returns only the new text."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ._inputs import as_text_list, encode_left_padded, pad_token_id
from .layers import input_device

__all__ = ["generate"]


def generate(model: nn.Module, tokenizer: Any, prompts: str | Sequence[str], max_new_tokens: int = 64,
             temperature: float = 0.0, top_p: float = 1.0, do_sample: bool | None = None,
             seed: int | None = None, batch_size: int = 8, **generate_kwargs: Any) -> list[str]:
    """Generate a continuation for each prompt; returns only the newly generated text.

    Prompts are batched with LEFT padding (the tokenizer itself is not modified); each output is
    sliced to the new tokens and decoded with `skip_special_tokens=True`. Steering / noise
    context managers active around the call apply to every generated token.
    Args:
        prompts: a str or a list of str (already chat-formatted if you want a chat model;
            see `format_chat`).
        max_new_tokens: tokens to generate per prompt.
        temperature: 0.0 means greedy decoding; > 0 samples at that temperature.
        top_p: nucleus sampling threshold (only used when sampling).
        do_sample: override; by default inferred as `temperature > 0`.
        seed: if given, `torch.manual_seed(seed)` first so sampling is reproducible.
        batch_size: prompts per forward batch.
        **generate_kwargs: passed to `model.generate` (e.g. `repetition_penalty=1.1`).
    Returns:
        list of str, one per prompt (a list of one for a single str).
    Example: `generate(model, tok, format_chat(tok, "Hi!"), max_new_tokens=20)[0]`
    """
    texts, _ = as_text_list(prompts)
    if do_sample is None:
        do_sample = temperature > 0
    if do_sample and temperature <= 0:
        raise ValueError("sampling needs temperature > 0")
    if seed is not None:
        torch.manual_seed(seed)  # seeds CPU and all CUDA devices
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": do_sample,
                              "pad_token_id": pad_token_id(tokenizer)}
    if do_sample:
        kwargs.update(temperature=temperature, top_p=top_p)
    else:
        # Why: a checkpoint's generation_config may carry sampling defaults; neutralise them
        # so greedy decoding is really greedy and transformers does not warn.
        kwargs.update(temperature=None, top_p=None, top_k=None)
    kwargs.update(generate_kwargs)

    device = input_device(model)
    outputs: list[str] = []
    for start in range(0, len(texts), batch_size):
        input_ids, attention_mask = encode_left_padded(tokenizer, texts[start:start + batch_size], device)
        with torch.inference_mode():  # cheaper per step than no_grad; only token ids leave it
            generated = model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        new_tokens = generated[:, input_ids.shape[1]:]  # left padding: all prompts end at the same index
        outputs.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return outputs
