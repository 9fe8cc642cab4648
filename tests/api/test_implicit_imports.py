"""Code written against Seer's sandboxes reads names their set-up had imported: it gets those imports first."""

from __future__ import annotations

from seer_mcp.api.implicit_imports import with_implicit_imports


def test_a_name_read_but_never_bound_is_imported_first() -> None:
    code = "print(torch.cuda.is_available())"
    assert with_implicit_imports(code) == "import torch\n" + code
    init = ('from transformers import AutoModel\nmodel = AutoModel.from_pretrained("m")\n'
            'tokenizer = AutoTokenizer.from_pretrained("m")\n')
    assert with_implicit_imports(init) == "from transformers import AutoTokenizer\n" + init


def test_code_that_binds_its_names_is_left_as_it_is() -> None:
    for code in ("import torch as torch\nprint(torch.ones(1))", "import numpy as np\nnp.zeros(2)",
                 "def f(np):\n    return np\n", "torch = 1\nprint(torch)", "print(x)", "def broken(:"):
        assert with_implicit_imports(code) == code
