"""Build steering / concept vectors from contrasting prompts."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .activations import get_activations
from .chat import format_chat

__all__ = ["mean_diff_vector", "concept_vector"]


def mean_diff_vector(model: nn.Module, tokenizer: Any, positive_prompts: Sequence[str],
                     negative_prompts: Sequence[str], layer: int, position: int = -1,
                     batch_size: int = 16) -> torch.Tensor:
    """Difference of mean activations: mean(positive) - mean(negative) at `layer`, `position`.

    The classic contrastive steering vector (e.g. positive = happy sentences,
    negative = sad ones). Returns a float32 CPU tensor of shape [d_model]; use it with `steer`.
    Example: `v = mean_diff_vector(model, tok, ["I love it"], ["I hate it"], layer=6)`
    """
    if isinstance(positive_prompts, str) or isinstance(negative_prompts, str):
        raise TypeError("positive_prompts and negative_prompts must be lists of str")
    pos = get_activations(model, tokenizer, list(positive_prompts), layer, positions=position, batch_size=batch_size)
    neg = get_activations(model, tokenizer, list(negative_prompts), layer, positions=position, batch_size=batch_size)
    return pos.mean(dim=0) - neg.mean(dim=0)


def concept_vector(model: nn.Module, tokenizer: Any, concept_word: str, baseline_words: Sequence[str],
                   layer: int, template: str = "Tell me about {word}.", position: int = -1,
                   chat: bool = False) -> torch.Tensor:
    """A vector for one concept: activation on the concept word minus the mean over baselines.

    Each word is put into `template` (which must contain `{word}`); with `chat=True` the filled
    template is wrapped as a user message with `format_chat`, so the activation is read at the
    end of the chat prompt (as in the concept-injection introspection experiments).
    Returns float32 CPU [d_model].
    Example: `v = concept_vector(model, tok, "ocean", ["table", "music", "bread"], layer=10)`
    """
    if "{word}" not in template:
        raise ValueError("template must contain '{word}'")
    if isinstance(baseline_words, str) or not baseline_words:
        raise ValueError("baseline_words must be a non-empty list of words")

    def prompt(word: str) -> str:
        text = template.format(word=word)
        return format_chat(tokenizer, text) if chat else text

    concept = get_activations(model, tokenizer, prompt(concept_word), layer, positions=position)
    baseline = get_activations(model, tokenizer, [prompt(w) for w in baseline_words], layer, positions=position)
    return concept - baseline.mean(dim=0)
