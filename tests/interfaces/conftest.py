"""Shared by the interface-file tests: a tiny chat model saved to disk, and loading an interface file
the way a worker does (configure the models, then execute the file as a module)."""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import typing
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from pydantic import TypeAdapter
from transformers import AutoModelForCausalLM, AutoTokenizer

from seer_mcp import interface
from tests.toolkit.conftest import build_tokenizer, tiny_llama

INTERFACES = Path(__file__).resolve().parents[2] / "interfaces"
_counter = itertools.count()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama (4 layers, hidden 64) with a word-level tokenizer and a chat template."""
    path = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama(seed=0).save_pretrained(path)
    build_tokenizer().save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def reference(model_dir: Path) -> tuple[Any, Any]:
    """The same model loaded independently of the interface, to compare against."""
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval(), \
        AutoTokenizer.from_pretrained(model_dir)


def model_entry(path: Path, var_name: str = "model", name: str = "org/tiny-llama", **extra: Any) -> dict[str, Any]:
    """A model as the worker hands it to `seer_mcp.interface._configure`."""
    return {"var_name": var_name, "name": name, "path": str(path), "base_path": None, "is_peft": False,
            "hidden": False, **extra}


@pytest.fixture(autouse=True)
def clean_interface_state():
    """Each test configures its own models and collects its own exposed functions."""
    saved = list(interface._exposed), list(interface._models)
    interface._exposed.clear()
    interface._models.clear()
    yield
    interface._exposed[:], interface._models[:] = saved


def load_interface(name: str, models: list[dict[str, Any]]) -> ModuleType:
    """Run `interfaces/<name>.py` as a fresh module after configuring the sandbox's models."""
    interface._configure([dict(m) for m in models])
    spec = importlib.util.spec_from_file_location(f"_interface_{name}_{next(_counter)}", INTERFACES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_well_described(functions: list[Callable[..., Any]]) -> None:
    """Each function has a docstring and type hints (usable as a JSON schema) for every parameter and its result."""
    for fn in functions:
        assert (inspect.getdoc(fn) or "").strip(), f"{fn.__name__} has no docstring"
        hints = typing.get_type_hints(fn)
        for param in inspect.signature(fn).parameters.values():
            assert param.name in hints, f"{fn.__name__}({param.name}) has no type hint"
            TypeAdapter(hints[param.name]).json_schema()  # raises if no MCP input schema can be built
            assert param.name in inspect.getdoc(fn) or len(inspect.signature(fn).parameters) == 1, \
                f"{fn.__name__}'s docstring does not explain {param.name}"
        assert "return" in hints, f"{fn.__name__} has no return annotation"
