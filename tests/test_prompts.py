"""The code every shipped task prompt gives its agent works with the real toolkit and the config's libraries.

A prompt holds code in two forms, and each is checked its own way:

- Fenced ```python blocks are runnable examples. A prompt's blocks run in order in one namespace holding what
  the experiment's notebook holds: its models and tokenizers (tiny offline stand-ins, PEFT-wrapped where the
  config's model is an adapter) and its workspace libraries, imported. So a block must run on any model, with
  no GPU, download or network, and must import `toolkit` itself, as the agent must.
- Inline code spans (`...`) are references and sketches whose arguments may be placeholders
  (`toolkit.steer(model, {L: vector}, strength=s)`), so nothing inline runs. Each span that parses as Python
  (one that opens a block, `with ...:`, is completed with `...`) is read with `ast`: every dotted name rooted
  at something the notebook has (`toolkit`, the libraries, the model and tokenizer variables) must exist, and
  every call of one must bind to the real signature (`inspect.signature(fn).bind`, each argument a stand-in).
  A call with `*args` or `**kwargs` is checked for existence only. Spans that are not Python are prose.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
from peft import LoraConfig, get_peft_model

import toolkit
from seer_mcp.experiments.config import ExperimentConfig
from seer_mcp.workspace import LibrarySpec
from tests.conftest import REPO
from tests.toolkit.conftest import build_tokenizer, tiny_llama

CONFIGS = sorted((REPO / "configs").glob("*.toml"))
PROMPTS = sorted((REPO / "configs" / "prompts").glob("*.md"))

_FENCED = re.compile(r"^([ \t]*)```([\w+-]*)[ \t]*\n(.*?)^\1```[ \t]*$", re.DOTALL | re.MULTILINE)
_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_STAND_IN = object()  # what a placeholder argument is bound to


def python_blocks(prompt: str) -> list[str]:
    return [textwrap.dedent(body) for _, language, body in _FENCED.findall(prompt) if language in ("python", "py")]


def inline_spans(prompt: str) -> list[str]:
    return _INLINE.findall(_FENCED.sub("", prompt))


def parse_span(span: str) -> ast.Module | None:
    """The span as Python, or None for prose."""
    for source in (span, f"{span} ..."):
        try:
            return ast.parse(source)
        except SyntaxError:
            continue
    return None


def dotted(node: ast.expr) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None for anything but a chain of names."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def span_problems(span: str, roots: dict[str, Any]) -> list[str]:
    """What in one inline span does not exist, or does not bind to the real signature."""
    tree = parse_span(span)
    if tree is None:
        return []
    problems: list[str] = []
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}  # checked with their chain
    for node in ast.walk(tree):
        path = dotted(node) if isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in inner else None
        if path is None or path[0] not in roots:
            continue
        target = roots[path[0]]
        for depth, attribute in enumerate(path[1:], start=1):
            if not hasattr(target, attribute):
                problems.append(f"`{span}`: {'.'.join(path[:depth])} has no attribute {attribute!r}")
                break
            target = getattr(target, attribute)
        else:
            call = _call_of(tree, node)
            if call is not None:
                problems += _binding_problems(span, ".".join(path), target, call)
    return problems


def _call_of(tree: ast.Module, func: ast.expr) -> ast.Call | None:
    return next((n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.func is func), None)


def _binding_problems(span: str, name: str, target: Any, call: ast.Call) -> list[str]:
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return []
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # a builtin without one
        return []
    try:
        signature.bind(*[_STAND_IN] * len(call.args), **{k.arg: _STAND_IN for k in call.keywords if k.arg})
    except TypeError as exc:
        return [f"`{span}`: does not match {name}{_parameters(signature)}: {exc}"]
    return []


class _Default:
    def __repr__(self) -> str:
        return "..."


def _parameters(signature: inspect.Signature) -> inspect.Signature:
    """The signature without annotations and with defaults elided: short enough to read in a failure."""
    return signature.replace(return_annotation=inspect.Signature.empty, parameters=[
        p.replace(annotation=p.empty, default=p.empty if p.default is p.empty else _Default())
        for p in signature.parameters.values()])


def import_library(library: LibrarySpec, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A workspace library imported as the kernel imports it (a file, a package folder, or code)."""
    name = library.module_name
    if library.code is not None:
        module = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, module)
        exec(compile(library.code, f"<library {name}>", "exec"), module.__dict__)
        return module
    path = Path(library.path or "")
    spec = (importlib.util.spec_from_file_location(name, path / "__init__.py", submodule_search_locations=[str(path)])
            if path.is_dir() else importlib.util.spec_from_file_location(name, path))
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def notebook_namespace(config: ExperimentConfig, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the experiment's kernel holds before the agent's first cell, with tiny models swapped in."""
    for secret in config.sandbox.secrets:
        monkeypatch.setenv(secret, f"test-{secret.lower()}")
    for key, value in config.sandbox.env.items():
        monkeypatch.setenv(key, value)
    namespace: dict[str, Any] = {}
    for spec in config.sandbox.models:
        model = tiny_llama()
        if spec.is_peft:
            model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"])).eval()
        namespace[spec.var_name] = model
        namespace[spec.tokenizer_var] = build_tokenizer()
    for library in config.sandbox.workspace.libraries:
        namespace[library.module_name] = import_library(library, monkeypatch)
    return namespace


def test_every_prompt_is_the_task_of_a_shipped_config() -> None:
    tasks = {Path(ExperimentConfig.load(path).experiment.task_file or "").resolve() for path in CONFIGS}
    assert [p.name for p in PROMPTS if p.resolve() not in tasks] == []


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_a_prompts_inline_calls_match_the_real_signatures(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = ExperimentConfig.load(path)
    roots = {"toolkit": toolkit, **notebook_namespace(config, monkeypatch)}
    problems = [p for span in inline_spans(config.task_prompt) for p in span_problems(span, roots)]
    assert not problems, "\n".join(problems)


WITH_BLOCKS = [path for path in CONFIGS if python_blocks(ExperimentConfig.load(path).task_prompt)]


@pytest.mark.parametrize("path", WITH_BLOCKS, ids=lambda p: p.stem)
def test_a_prompts_python_blocks_run_on_a_tiny_model(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = ExperimentConfig.load(path)
    namespace = notebook_namespace(config, monkeypatch)
    for index, block in enumerate(python_blocks(config.task_prompt)):
        exec(compile(block, f"<{path.stem} prompt, python block {index}>", "exec"), namespace)


def test_a_call_missing_a_required_argument_is_reported() -> None:
    problems = span_problems("toolkit.steer({L: vector}, strength=s)", {"toolkit": toolkit})
    assert len(problems) == 1 and "missing a required argument: 'vectors'" in problems[0]


def test_a_call_inside_an_opened_block_is_checked() -> None:
    assert span_problems("with toolkit.steer(model, {L: v}, strength=s, sign=1):", {"toolkit": toolkit})


def test_a_name_the_toolkit_lacks_is_reported() -> None:
    assert span_problems("toolkit.stear", {"toolkit": toolkit}) == ["`toolkit.stear`: toolkit has no attribute 'stear'"]


def test_prose_and_names_the_notebook_lacks_are_not_checked() -> None:
    spans = ["/workspace/interp_embed", "help(toolkit)", "reply.choices[0].message.content", "I'm sure, right?"]
    assert [p for span in spans for p in span_problems(span, {"toolkit": toolkit})] == []


def test_fenced_blocks_of_other_languages_are_not_python() -> None:
    prompt = "Run:\n\n```bash\nls\n```\n\n  ```python\n  x = 1\n  ```\nthen `toolkit.steer`.\n"
    assert python_blocks(prompt) == ["x = 1\n"] and inline_spans(prompt) == ["toolkit.steer"]
