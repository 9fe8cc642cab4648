"""Chat-template formatting."""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["format_chat"]


def format_chat(tokenizer: Any, messages_or_user_text: str | Sequence[dict[str, str]],
                system: str | None = None, prefill: str | None = None,
                add_generation_prompt: bool = True) -> str:
    """Render a conversation with the tokenizer's chat template, as a string ready to tokenize.

    Args:
        tokenizer: a HF tokenizer with a `chat_template`.
        messages_or_user_text: a single user message (str) or a list of
            `{"role": ..., "content": ...}` dicts.
        system: optional system prompt, prepended as a system message. Templates that reject
            the system role (e.g. Gemma) get it folded into the first user message instead.
        prefill: optional text the assistant's reply starts with; appended right after the
            generation prompt, so generation continues from it.
        add_generation_prompt: end with the assistant-turn header (default True).
    Returns:
        The formatted string. It usually starts with the BOS token; the toolkit's functions
        detect that and do not add a second one.
    Example: `format_chat(tok, "What is 2+2?", system="Be brief.", prefill="The answer is")`
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("this tokenizer has no chat_template; pass plain prompt strings instead "
                         "(e.g. base models such as GPT-2)")
    if isinstance(messages_or_user_text, str):
        messages = [{"role": "user", "content": messages_or_user_text}]
    else:
        messages = [dict(m) for m in messages_or_user_text]
    if system is not None:
        messages = [{"role": "system", "content": system}, *messages]
    if prefill is not None and not add_generation_prompt:
        raise ValueError("prefill needs add_generation_prompt=True (it continues the assistant turn)")

    def render(msgs: list[dict[str, str]]) -> str:
        text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt)
        if not isinstance(text, str):  # defensive: some versions wrap the result
            raise TypeError(f"apply_chat_template returned {type(text).__name__}, expected str")
        return text

    try:
        text = render(messages)
    except Exception:
        # Why: Gemma-style templates raise on a system message; fold it into the first user turn.
        if system is None or len(messages) < 2 or messages[1].get("role") != "user":
            raise
        folded = [{"role": "user", "content": f"{system}\n\n{messages[1]['content']}"}, *messages[2:]]
        text = render(folded)
    return text + prefill if prefill is not None else text
