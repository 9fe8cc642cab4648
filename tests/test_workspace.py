"""The agent's workspace: libraries, skills, host files and set-up code, placed in a sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastmcp import Client

from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.conftest import fields_of, notebook_cells, output_of, text_of
from tests.test_models import model_dirs  # noqa: F401 - a fixture

pytestmark = pytest.mark.slow

LIBRARY = '''"""Helpers for probing experiments."""


def double(x: int) -> int:
    """Twice x.

    More detail that the summary leaves out."""
    return 2 * x


def _private() -> None:
    pass
'''


@pytest.fixture
def host(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "skills" / "probing").mkdir(parents=True)
    (root / "skills" / "probing" / "SKILL.md").write_text(
        "---\nname: probing\ndescription: Train linear probes on activations.\n---\n# Probing\nSteps...\n")
    (root / "helpers.py").write_text(LIBRARY)
    (root / "data").mkdir()
    (root / "data" / "prompts.txt").write_text("hello\nworld\n")
    (root / "data" / "nested").mkdir()
    (root / "data" / "nested" / "x.bin").write_bytes(bytes(range(256)))
    return root


@pytest.fixture
async def host_client(settings: Settings, host: Path):
    allowed = settings.model_copy(update={"allowed_host_roots": [host]})
    async with Client(build_server(allowed)) as client:
        yield client


async def test_libraries_import_in_every_kernel_and_their_docs_reach_the_agent(host_client: Client,
                                                                              host: Path) -> None:
    workspace = {"libraries": [{"path": str(host / "helpers.py")},
                               {"name": "consts", "code": '"""Shared constants."""\nANSWER = 42\n'}]}
    created = await host_client.call_tool("create_sandbox", {"workspace": workspace})
    session = (await host_client.call_tool("start_session", {})).structured_content
    docs = session["library_docs"]
    assert "Helpers for probing experiments." in docs
    assert "def double(x: int) -> int" in docs and "Twice x." in docs
    assert "More detail" not in docs and "_private" not in docs
    assert "Shared constants." in docs
    result = await host_client.call_tool("execute_code", {"code": "print(helpers.double(consts.ANSWER))"})
    assert output_of(result).strip() == "84"
    second = (await host_client.call_tool("start_session", {})).structured_content["session_id"]
    again = await host_client.call_tool("execute_code", {"session_id": second, "code": "print(helpers.double(2))"})
    assert output_of(again).strip() == "4"
    resource = await host_client.read_resource(
        f"seer://sandboxes/{created.structured_content['sandbox_id']}/library-docs")
    assert "def double" in resource[0].text


async def test_skills_and_host_files_are_copied_in(host_client: Client, host: Path) -> None:
    workspace = {"skill_dirs": [str(host / "skills" / "probing")],
                 "local_files": {str(host / "data" / "prompts.txt"): "inputs/prompts.txt"},
                 "local_dirs": {str(host / "data"): "data"}}
    await host_client.call_tool("create_sandbox", {"workspace": workspace})
    session = (await host_client.call_tool("start_session", {})).structured_content
    assert "probing (skills/probing/SKILL.md): Train linear probes on activations." in session["library_docs"]
    code = ("print(open('inputs/prompts.txt').read().split())\n"
            "print(open('data/nested/x.bin', 'rb').read() == bytes(range(256)))\n"
            "print(open('skills/probing/SKILL.md').read().startswith('---'))")
    result = await host_client.call_tool("execute_code", {"code": code})
    assert output_of(result).split("\n")[:3] == ["['hello', 'world']", "True", "True"]


async def test_host_paths_outside_the_allowed_roots_are_refused(host_client: Client, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("private")
    for workspace in ({"local_files": {str(outside): "x.txt"}}, {"local_dirs": {"/etc": "etc"}},
                      {"libraries": [{"path": "/etc/hostname"}]}):
        result = await host_client.call_tool("create_sandbox", {"workspace": workspace}, raise_on_error=False)
        assert result.is_error
        assert "outside the roots the operator allows" in text_of(result)
    listing = (await host_client.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
    assert listing == []


async def test_a_workspace_target_may_not_leave_the_workspace(host_client: Client, host: Path) -> None:
    result = await host_client.call_tool("create_sandbox", {
        "workspace": {"local_files": {str(host / "helpers.py"): "../../escape.py"}}}, raise_on_error=False)
    assert result.is_error
    assert "inside the workspace" in text_of(result)


async def test_custom_init_code_runs_in_each_kernel_outside_the_notebook(host_client: Client) -> None:
    await host_client.call_tool("create_sandbox", {"workspace": {"custom_init_code": "SEED = 1234"}})
    await host_client.call_tool("start_session", {})
    result = await host_client.call_tool("execute_code", {"code": "print(SEED)"})
    assert output_of(result).strip() == "1234"
    page = await host_client.call_tool("read_notebook", {})
    assert [c["source"] for c in notebook_cells(page).values()] == ["print(SEED)"]
    assert fields_of(page)["total_cells"] == 1


async def test_a_library_with_a_syntax_error_is_named(host_client: Client) -> None:
    result = await host_client.call_tool("create_sandbox", {
        "workspace": {"libraries": [{"name": "broken", "code": "def f(:\n    pass\n"}]}}, raise_on_error=False)
    assert result.is_error
    assert "library 'broken' has a syntax error at line 1" in text_of(result)


async def test_model_loading_can_be_shown_in_the_notebook(client: Client, model_dirs) -> None:  # noqa: F811
    base_dir, _ = model_dirs
    await client.call_tool("create_sandbox", {"models": [{"name": str(base_dir)}],
                                              "workspace": {"hidden_model_loading": False}})
    await client.call_tool("start_session", {})
    page = await client.call_tool("read_notebook", {})
    assert fields_of(page)["total_cells"] == 1 and "from_pretrained" in notebook_cells(page)[0]["source"]


async def test_model_preloading_can_be_turned_off(client: Client, model_dirs) -> None:  # noqa: F811
    base_dir, _ = model_dirs
    await client.call_tool("create_sandbox", {"models": [{"name": str(base_dir)}],
                                              "workspace": {"preload_models": False}})
    session = (await client.call_tool("start_session", {})).structured_content
    assert session["model_info"] == ""
    result = await client.call_tool("execute_code", {"code": "print('model' in globals())"})
    assert output_of(result).strip() == "False"
