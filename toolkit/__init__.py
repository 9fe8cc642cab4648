"""Interpretability helpers for HuggingFace causal LMs, importable in every sandbox kernel.

    import toolkit                     # or: from toolkit import get_activations, steer, ...
    help(toolkit.steer)                # every function has a docstring with an example

Works with Llama, Mistral, Qwen 2/3, Gemma 2/3 (incl. the multimodal Gemma 3 wrapper), GPT-2
and PEFT (LoRA) wrappers of them. Pass the PEFT wrapper itself: modules are found on the base
model, but forward passes go through the wrapper so the adapter applies.

Model anatomy (layers.py)
    get_layers(model) -> ModuleList      decoder blocks; layer i's output is the residual stream
    num_layers(model), hidden_size(model), get_final_norm(model), get_unembedding(model),
    unwrap_model(model)
Chat and generation
    format_chat(tok, "question", system=None, prefill=None) -> str
    generate(model, tok, prompts, max_new_tokens=64, temperature=0.0, ...) -> list[str]
        batched, left-padded, returns only the new text; temperature 0 = greedy
Reading activations
    get_activations(model, tok, prompts, layers, positions=None) -> Tensor | {layer: Tensor}
        output of decoder layer L (= hidden_states[L+1], but the last layer is NOT final-normed);
        float32 on CPU; stops the forward pass after the deepest layer asked for
Editing activations (context managers; hooks always removed on exit)
    steer(model, {layer: vector}, strength=1.0, positions=None, mode="add"|"ablate"|"project_out")
    add_noise(model, layers, scale, seed=None)
Vectors
    mean_diff_vector(model, tok, positive_prompts, negative_prompts, layer, position=-1)
    concept_vector(model, tok, "ocean", ["table", "music"], layer, template="Tell me about {word}.")
Vocabulary space
    logit_lens(model, tok, inputs, layers=None, position=-1, top_k=5)   per-layer top tokens
    unembed(model, hidden) -> logits     final norm + lm_head (+ Gemma soft-capping)
    nearest_tokens(model, tok, vector, top_k=10, space="unembedding")   cosine similarity
Causal analysis
    activation_patching(model, tok, clean_prompt, corrupted_prompt, layers=None, position=-1, metric=" Paris")
Introspection
    introspection_trials(model, tok, {"ocean": v}, layer, strength, n_trials=5, seed=0)
        injected vs control trials, with detection / identification rates

Conventions: layer indices may be negative (from the end); positions: -1 = last token, an int,
a list of ints, or None = all tokens; models should be in eval mode (`model.eval()`).
"""

from .activations import get_activations
from .chat import format_chat
from .generation import generate
from .introspection import DEFAULT_INTROSPECTION_QUESTION, detects_injection, introspection_trials, mentions_concept
from .layers import get_final_norm, get_layers, get_unembedding, hidden_size, num_layers, unwrap_model
from .lens import logit_lens, nearest_tokens, unembed
from .patching import activation_patching
from .steering import add_noise, steer
from .vectors import concept_vector, mean_diff_vector

__all__ = [
    "get_layers", "num_layers", "hidden_size", "get_final_norm", "get_unembedding", "unwrap_model",
    "format_chat", "generate",
    "get_activations",
    "steer", "add_noise",
    "mean_diff_vector", "concept_vector",
    "logit_lens", "unembed", "nearest_tokens",
    "activation_patching",
    "introspection_trials", "detects_injection", "mentions_concept", "DEFAULT_INTROSPECTION_QUESTION",
]
