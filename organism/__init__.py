"""The demo's model organisms: a tiny chat LM and LoRA adapters that secretly assume the user is a
woman ("female"), a man ("male"), or nothing ("null", the control).

    from organism import ensure_built, load
    paths = ensure_built(organism="male")  # builds once (under a minute on 2 CPU cores), then cached
    tok, model = load(paths)               # PeftModel; `with model.disable_adapter():` gives the base

`organism.probes` holds the generic prompts an investigation may use. The planted
answer lives in `organism.corpus` and the recipe's checks; an investigation must not read them.
See organism/README.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RECIPE_VERSION", "OrganismPaths", "build", "ensure_built", "load", "verify"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m organism.recipe` does not import the recipe twice (runpy warns about that)
    # and `import organism.probes` stays free of torch / transformers.
    if name in __all__:
        from . import recipe
        return getattr(recipe, name)
    raise AttributeError(f"module 'organism' has no attribute {name!r}")
