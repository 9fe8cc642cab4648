"""Backends, found through the `seer_mcp.backends` entry point group.

The built-in ones register there exactly as a third party's would;
`seer_mcp.backends.conformance` is the suite every one of them passes.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from seer_mcp.backends.base import Backend, BackendCapabilities
from seer_mcp.errors import BackendNotFound
from seer_mcp.settings import Settings

__all__ = ["GROUP", "available_backends", "backend_capabilities", "backend_class", "choose_backend", "load_backend"]

GROUP = "seer_mcp.backends"

# seer-mcp's own backends: registered by its pyproject.toml, so missing means an old or partial install.
_BUILT_IN = ("local", "modal")
_REINSTALL = "reinstall seer-mcp so its entry points are registered (`pip install -e .` in a checkout)"
# What to install when a backend's module needs a package that is not there.
_MISSING_PACKAGE_HINTS = {"modal": "pip install 'modal>=1.0', then run `modal token new`"}


def available_backends() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def backend_class(name: str) -> type[Backend]:
    """The class registered under `name`; raises `BackendNotFound` saying what to install."""
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not matches:
        known = ", ".join(available_backends()) or "none"
        hint = (_REINSTALL if name in _BUILT_IN else
                f"install the package that provides it (it registers {name!r} in the {GROUP!r} entry point group)")
        raise BackendNotFound(f"unknown backend {name!r}; available: {known}. To use it: {hint}")
    try:
        return matches[0].load()
    except ImportError as exc:
        raise BackendNotFound(f"backend {name!r} could not be imported ({exc}); "
                              f"{_import_hint(matches[0], exc)}") from exc


def backend_capabilities(name: str) -> BackendCapabilities:
    """What the backend registered under `name` declares it can do (see `BackendCapabilities`)."""
    return backend_class(name).capabilities


def choose_backend(named: str | None, gpu: str | None, default: str) -> str:
    """Where a spec runs: the backend it names; else `default`, unless it asks for a GPU that `default` cannot
    give, and then the first registered backend that gives GPUs (Modal), as a Seer script that says
    `gpu="A100"` expects. Without one, `default`, which then refuses the GPU and says why."""
    if named:
        return named
    if gpu and not backend_capabilities(default).gpus:
        for name in available_backends():
            try:
                if backend_capabilities(name).gpus:
                    return name
            except BackendNotFound:
                continue
    return default


def load_backend(name: str, settings: Settings) -> Backend:
    return backend_class(name)(settings)


def _import_hint(entry: EntryPoint, exc: ImportError) -> str:
    missing = exc.name or ""
    if missing.partition(".")[0] in _MISSING_PACKAGE_HINTS:
        return _MISSING_PACKAGE_HINTS[missing.partition(".")[0]]
    if missing:
        return f"it imports {missing!r}, which is missing: install what provides it, or reinstall {_provider(entry)}"
    return f"reinstall {_provider(entry)}"


def _provider(entry: EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return dist.name if dist is not None else f"the package that provides {entry.value}"
