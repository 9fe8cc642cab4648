"""What an interface file uses: `expose`, `get_model_path`, `list_configured_models`.

An interface file is a Python file served in a sandbox; the agent may call
its `@expose`d functions and nothing else there. The file is loaded once, in
a worker process of its own, so module-level code is where it loads models:

    from seer_mcp.interface import expose, get_model_path
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(get_model_path("model"))

    @expose
    def n_layers() -> int:
        '''How many decoder layers the model has.'''
        return model.config.num_hidden_layers

`expose` works in the file and in any module it imports. Outside a worker
(a notebook, a test) it only marks the function, which stays callable as is.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar, overload

__all__ = ["configured_model", "expose", "get_model_path", "list_configured_models", "load_model"]

F = TypeVar("F", bound=Callable[..., Any])

# Filled by the worker: every exposed function in the order it was defined,
# and the sandbox's models (name, var_name, path, ...), handed over on its stdin.
_exposed: list[Callable[..., Any]] = []
_models: list[dict[str, Any]] = []

EXPOSED_ATTR = "__seer_expose__"


@overload
def expose(fn: F) -> F: ...


@overload
def expose(*, thread_safe: bool = False, name: str | None = None) -> Callable[[F], F]: ...


def expose(fn: Any = None, *, thread_safe: bool = False, name: str | None = None) -> Any:
    """Let the agent call this function.

    `thread_safe=True` lets calls to it run alongside other calls; by default an
    interface runs one call at a time. `name` publishes it under another name.
    """

    def mark(function: F) -> F:
        if not callable(function):
            raise TypeError(f"@expose needs a function, got {type(function).__name__}")
        setattr(function, EXPOSED_ATTR, {"thread_safe": thread_safe, "name": name or function.__name__})
        if function not in _exposed:
            _exposed.append(function)
        return function

    return mark(fn) if fn is not None else mark


def list_configured_models() -> list[dict[str, Any]]:
    """The sandbox's models: var_name, name (`<hidden>` for hidden ones), path, and base_path for adapters."""
    return [{k: v for k, v in model.items() if not k.startswith("_")} for model in _models]


def get_model_path(name: str = "model") -> str:
    """The local path of a configured model's weights, by its name or its var_name.

    For a hidden model this is an opaque folder that does not reveal the name.
    A PEFT adapter's path holds the adapter; its base model's path is
    `list_configured_models()[i]["base_path"]` (or this function, given the base's name).
    """
    for model in _models:
        if name in (model.get("var_name"), model.get("_lookup_name")):
            return str(model["path"])
        if name == model.get("_base_lookup_name") and model.get("base_path"):
            return str(model["base_path"])
    known = ", ".join(repr(m["var_name"]) for m in _models) or "none: the sandbox was created without models"
    raise LookupError(f"no configured model {name!r}; the sandbox's models are {known}")


def configured_model(name: str | None = None) -> dict[str, Any]:
    """One entry of `list_configured_models()`, by name or var_name.

    Without a name: the sandbox's only model, else the one whose var_name is "model".
    """
    if name is None:
        if len(_models) == 1:
            return list_configured_models()[0]
        name = "model"
    path = get_model_path(name)  # raises LookupError naming the sandbox's models
    entries = list_configured_models()
    for entry in entries:
        if name == entry["var_name"]:
            return entry
    for entry in entries:  # a real name, which only get_model_path resolves
        if path == str(entry["path"]):
            return entry
    # `name` was a PEFT model's base: describe the base on its own.
    return {"var_name": name, "name": name, "path": path, "base_path": None, "is_peft": False, "hidden": False}


_TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "tokenizer.model")


def load_model(name: str | None = None, **from_pretrained: Any) -> tuple[Any, Any]:
    """A configured model and its tokenizer, in eval mode: `model, tokenizer = load_model()`.

    A PEFT adapter is loaded onto its base model, with the adapter's tokenizer
    when it has one. With a GPU (and accelerate) weights load with dtype "auto"
    and device_map "auto"; on CPU in float32. Keyword arguments go to
    `from_pretrained` and override those choices.
    """
    import importlib.util
    from pathlib import Path

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    entry = configured_model(name)
    if torch.cuda.is_available() and importlib.util.find_spec("accelerate") is not None:
        kwargs: dict[str, Any] = {"dtype": "auto", "device_map": "auto"}
    else:
        kwargs = {"dtype": torch.float32}
    kwargs.update(from_pretrained)
    path = str(entry["path"])
    if entry.get("is_peft"):
        from peft import PeftModel

        base_path = entry.get("base_path")
        if not base_path:
            raise ValueError(f"the adapter {entry['var_name']!r} has no base model path to load it onto")
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_path, **kwargs), path)
        has_tokenizer = any((Path(path) / file).exists() for file in _TOKENIZER_FILES)
        tokenizer = AutoTokenizer.from_pretrained(path if has_tokenizer else base_path)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(path)
    model.eval()
    return model, tokenizer


def _configure(models: list[dict[str, Any]]) -> None:
    """Called by the worker before the file loads.

    `_lookup_name` is the real name of a hidden model, present only when the
    operator served the file: an agent's own interface could otherwise test
    guesses of the name against it. It is never listed.
    """
    _models[:] = models
    for model in _models:
        if model.get("hidden"):
            model["name"] = "<hidden>"
