"""Generate a reply to one prompt and return only the new text (Seer's generate_response.py).

    from generate_response import generate_response
    reply = generate_response(model, tokenizer, "What is the capital of France?", max_new_tokens=40)

The prompt goes into the tokenizer's chat template when it has one (apply_chat_template=False
sends it as it is: a base-model continuation, or a prompt formatted already). Decoding is greedy,
so a call repeats itself, unless temperature > 0. Steering contexts around the call apply to
every generated token. Built on `toolkit.generate` (help(toolkit.generate) for batches).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from toolkit import format_chat, generate

__all__ = ["generate_response"]


def generate_response(model: nn.Module, tokenizer: Any, prompt: str | Sequence[dict[str, str]],
                      max_new_tokens: int = 100, temperature: float = 0.0, *, system: str | None = None,
                      apply_chat_template: bool | None = None, **generate_kwargs: Any) -> str:
    """The model's continuation of `prompt`, without the prompt, stripped of surrounding whitespace.

    Args:
        prompt: a user message (str), or a list of {"role", "content"} messages (always put in
            the chat template).
        max_new_tokens: tokens to generate at most.
        temperature: 0.0 decodes greedily; above 0 samples (pass seed=... to repeat a sample).
        system: a system prompt, for the chat template.
        apply_chat_template: None (default) uses the tokenizer's template when it has one;
            False sends a str prompt as it is; True requires the template.
        **generate_kwargs: passed to toolkit.generate (seed, top_p) and on to model.generate.
    Example: `generate_response(model, tokenizer, "Tell me a joke.", max_new_tokens=60)`
    """
    if apply_chat_template is None:
        apply_chat_template = bool(getattr(tokenizer, "chat_template", None))
    if not isinstance(prompt, str) or apply_chat_template:
        text = format_chat(tokenizer, prompt, system=system)
    elif system is not None:
        raise ValueError("a system prompt needs the chat template; pass apply_chat_template=True or leave system out")
    else:
        text = prompt
    reply = generate(model, tokenizer, text, max_new_tokens=max_new_tokens, temperature=temperature,
                     **generate_kwargs)[0]
    return reply.strip()
