"""A local notebook's libraries get the environment variables they read by name, and nothing else."""

from __future__ import annotations

from pathlib import Path

from seer_mcp.api.library_env import variables_read, variables_read_by
from seer_mcp.api.workspace import Library


def test_each_way_of_reading_a_variable_by_name_is_found() -> None:
    code = ("import os\nfrom os import environ, getenv\n"
            "a = os.environ.get('A_KEY')\nb = os.environ['B_KEY']\nc = os.getenv('C_KEY', 'x')\n"
            "d = environ.get('D_KEY')\ne = getenv('E_KEY')\nos.environ.setdefault('F_KEY', '1')\n"
            "again = os.environ.get('A_KEY')\n")
    assert variables_read(code) == ["A_KEY", "B_KEY", "C_KEY", "D_KEY", "E_KEY", "F_KEY"]


def test_names_not_given_literally_are_not_guessed() -> None:
    code = "import os\nname = 'X'\nv = os.environ.get(name)\nall_of_it = dict(os.environ)\nw = {}.get('Y')\n"
    assert variables_read(code) == []
    assert variables_read("def broken(:") == []


def test_libraries_of_every_kind_are_read(tmp_path: Path) -> None:
    (tmp_path / "client.py").write_text("import os\nKEY = os.environ.get('OPENROUTER_API_KEY')\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("import os\nTOKEN = os.getenv('PKG_TOKEN')\n")
    libraries = [Library.from_file(tmp_path / "client.py"), Library.from_skill_dir(tmp_path / "pkg"),
                 Library.from_code("inline", "import os\nos.environ['OPENROUTER_API_KEY']\n")]
    assert variables_read_by(libraries) == ["OPENROUTER_API_KEY", "PKG_TOKEN"]
