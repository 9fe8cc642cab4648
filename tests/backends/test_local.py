"""What only the local backend does with a spec: check the host, take secrets from it, clone repos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from seer_mcp.settings import Settings
from tests.conftest import output_of

pytestmark = pytest.mark.slow


async def test_missing_system_packages_are_named_with_what_to_do(client: Client) -> None:
    with pytest.raises(ToolError, match=r"system packages \['no-such-package-xyz'\] are not installed.*modal"):
        await client.call_tool("create_sandbox", {"system_packages": ["no-such-package-xyz"]})


async def test_another_python_version_is_refused(client: Client) -> None:
    other = "3.9" if sys.version_info[:2] != (3, 9) else "3.10"
    with pytest.raises(ToolError, match=f"not {other}"):
        await client.call_tool("create_sandbox", {"python_version": other})


async def test_secrets_come_from_the_servers_environment(client: Client, settings: Settings,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    settings.agent_secrets = ["EXPERIMENT_API_KEY", "UNSET_KEY"]
    monkeypatch.setenv("EXPERIMENT_API_KEY", "key-123")
    with pytest.raises(ToolError, match=r"secrets \['UNSET_KEY'\] are not set"):
        await client.call_tool("create_sandbox", {"secrets": ["UNSET_KEY"]})
    await client.call_tool("create_sandbox", {"secrets": ["EXPERIMENT_API_KEY"]})
    await client.call_tool("start_session", {})
    result = await client.call_tool("execute_code", {"code": "import os; print(os.environ['EXPERIMENT_API_KEY'])"})
    assert output_of(result).strip() == "key-123"


async def test_repos_are_cloned_into_the_workspace_and_installed(client: Client, tmp_path: Path) -> None:
    repo = tmp_path / "probe-lib"
    (repo / "probe_lib").mkdir(parents=True)
    (repo / "probe_lib" / "__init__.py").write_text("ANSWER = 42\n")
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "probe-lib"\nversion = "0.1"\n[build-system]\nrequires = ["setuptools"]\n'
        'build-backend = "setuptools.build_meta"\n')
    for command in (["git", "init", "-q"], ["git", "add", "."],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(command, cwd=repo, check=True)
    created = await client.call_tool("create_sandbox", {"repos": [
        {"url": f"file://{repo}", "install": "pip install --no-build-isolation --no-deps -q ."}]})
    workspace = Path(created.structured_content["workspace_path"])
    assert (workspace / "probe-lib" / "probe_lib" / "__init__.py").is_file()
    await client.call_tool("start_session", {})
    result = await client.call_tool("execute_code", {"code": "import probe_lib; print(probe_lib.ANSWER)"})
    assert output_of(result).strip() == "42"


async def test_a_repo_that_fails_to_clone_says_where(client: Client, tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="setting up repo .*git clone"):
        await client.call_tool("create_sandbox", {"repos": [{"url": f"file://{tmp_path}/nothing-here"}]})
    assert (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"] == []
