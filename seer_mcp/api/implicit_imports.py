"""The names Seer's sandboxes had already imported, for code written against them.

Seer's `exec_python("print(torch.cuda.is_available())")` and its custom init code
(`tokenizer = AutoTokenizer.from_pretrained(...)` after importing only AutoModel)
read names its own set-up code had left in the namespace. seer-mcp's set-up leaves
none, so such code gets the import of each name it reads but never binds, first.
"""

from __future__ import annotations

import ast

__all__ = ["with_implicit_imports"]

_IMPLICIT_IMPORTS = {
    "torch": "import torch",
    "np": "import numpy as np",
    "transformers": "import transformers",
    # what Seer's model loading imported into the kernel before custom init code ran
    **{name: f"from transformers import {name}" for name in (
        "AutoConfig", "AutoModel", "AutoModelForCausalLM", "AutoTokenizer")},
}


def with_implicit_imports(code: str) -> str:
    """`code` preceded by the imports of the `_IMPLICIT_IMPORTS` names it reads but never binds itself."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code  # Python says what is wrong with it
    read, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).partition(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    needed = [_IMPLICIT_IMPORTS[name] for name in _IMPLICIT_IMPORTS if name in read - bound]
    return "\n".join([*needed, code]) if needed else code
