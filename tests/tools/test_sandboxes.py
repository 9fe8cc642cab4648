"""Sandbox lifecycle through the in-memory MCP client: create, list, limits, terminate."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import psutil
import pytest
from fastmcp import Client

from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.conftest import open_session, output_of, sandbox_processes, text_of, tiny_package, write_files

pytestmark = pytest.mark.slow


async def test_create_sandbox_returns_its_id_and_workspace(any_client: Client) -> None:
    result = await any_client.call_tool("create_sandbox", {"name": "probe-run"})
    data = result.structured_content
    assert data["sandbox_id"].startswith("sb-")
    assert data["backend"] == "local" and data["status"] == "running" and data["name"] == "probe-run"
    assert Path(data["workspace_path"]).is_dir()


async def test_creating_a_sandbox_reports_progress(client: Client) -> None:
    messages: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    await client.call_tool("create_sandbox", {}, progress_handler=on_progress)
    assert any(m and "ready" in m for m in messages)


async def test_list_sandboxes_shows_sessions(client: Client) -> None:
    sandbox_id, session_id = await open_session(client)
    listing = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
    assert [s["sandbox_id"] for s in listing] == [sandbox_id]
    assert listing[0]["sessions"] == [session_id]


def _sleepers_of(sandbox_id: str) -> list[psutil.Process]:
    """This sandbox's `sleep 300` processes still running (found by the id in their environment, so a
    process of another test on the machine does not count)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if ((proc.info["cmdline"] or [])[:2] == ["sleep", "300"] and proc.status() != psutil.STATUS_ZOMBIE
                    and proc.environ().get("SEER_SANDBOX_ID") == sandbox_id):
                found.append(proc)
        except psutil.Error:
            continue
    return found


async def test_terminate_leaves_no_process_behind(client: Client) -> None:
    sandbox_id, _ = await open_session(client)
    await client.call_tool("execute_code", {"code": "import subprocess\np = subprocess.Popen(['sleep', '300'])"})
    await client.call_tool("sandbox_exec", {"command": "sleep 300 &"})
    assert len(sandbox_processes(sandbox_id)) >= 2  # the agent, the kernel
    assert len(_sleepers_of(sandbox_id)) == 2  # the kernel's child and the background job
    await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox_id})
    assert sandbox_processes(sandbox_id) == []
    assert _sleepers_of(sandbox_id) == []
    listing = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
    assert listing == []


async def test_a_terminated_sandbox_refuses_new_work_with_a_clear_error(client: Client) -> None:
    sandbox_id, _ = await open_session(client)
    await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox_id})
    result = await client.call_tool("start_session", {"sandbox_id": sandbox_id}, raise_on_error=False)
    assert result.is_error
    assert "is terminated" in text_of(result)


async def test_server_exit_terminates_its_local_sandboxes(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        sandbox_id, _ = await open_session(client)
        assert sandbox_processes(sandbox_id)
    assert sandbox_processes(sandbox_id) == []


async def test_an_unknown_backend_is_a_clear_error(client: Client) -> None:
    result = await client.call_tool("create_sandbox", {"backend": "mainframe"}, raise_on_error=False)
    assert result.is_error
    assert "unknown backend 'mainframe'" in text_of(result) and "local" in text_of(result)


async def test_a_bad_sandbox_name_is_refused(client: Client) -> None:
    result = await client.call_tool("create_sandbox", {"name": "../escape"}, raise_on_error=False)
    assert result.is_error
    assert "name" in text_of(result)


async def test_an_unknown_sandbox_is_a_clear_error(client: Client) -> None:
    result = await client.call_tool("terminate_sandbox", {"sandbox_id": "sb-missing"}, raise_on_error=False)
    assert result.is_error
    assert "no sandbox 'sb-missing'" in text_of(result)


async def test_env_reaches_the_kernel(client: Client) -> None:
    await open_session(client, env={"EXPERIMENT": "alpha"})
    result = await client.call_tool("execute_code", {"code": "import os; print(os.environ['EXPERIMENT'])"})
    assert output_of(result).strip() == "alpha"


async def test_the_server_token_never_reaches_the_kernel(client: Client) -> None:
    await open_session(client)
    code = "import os; print(sorted(k for k in os.environ if 'TOKEN' in k or k.startswith('SEER_HTTP')))"
    result = await client.call_tool("execute_code", {"code": code})
    assert output_of(result).strip() == "[]"


TINY_PACKAGE = tiny_package("seer_tinypkg")


async def test_python_packages_are_installed_for_that_sandbox_only(client: Client, tmp_path: Path) -> None:
    package = write_files(tmp_path / "tinypkg", TINY_PACKAGE)
    await open_session(client, python_packages=[str(package)])
    result = await client.call_tool("execute_code", {"code": "import seer_tinypkg; print(seer_tinypkg.ANSWER)"})
    assert output_of(result).strip() == "42"
    with pytest.raises(ImportError):
        __import__("seer_tinypkg")


async def test_the_agents_own_pip_install_serves_its_running_kernel_and_stays_in_its_sandbox(
        client: Client, settings: Settings) -> None:
    # An agent's `!pip install` mid-notebook: into the sandbox's packages (not the server's environment, which
    # an isolated sandbox cannot write), importable in the kernel that is already running.
    sandbox_id, _ = await open_session(client)
    make = (f"import pathlib\nfor name, text in {TINY_PACKAGE!r}.items():\n"
            "    path = pathlib.Path('tinypkg', name); path.parent.mkdir(parents=True, exist_ok=True)\n"
            "    path.write_text(text)\n")
    await client.call_tool("execute_code", {"code": make})
    installed = await client.call_tool("execute_code", {
        "code": "!pip install --quiet --no-build-isolation --disable-pip-version-check ./tinypkg && echo done"})
    assert output_of(installed).strip().endswith("done"), output_of(installed)
    result = await client.call_tool("execute_code", {"code": "import seer_tinypkg; print(seer_tinypkg.ANSWER)"})
    assert output_of(result).strip() == "42"
    where = await client.call_tool("execute_code", {"code": "print(seer_tinypkg.__file__)"})
    assert output_of(where).strip().startswith(str(settings.sandboxes_dir / sandbox_id / "site-packages"))
    with pytest.raises(ImportError):
        __import__("seer_tinypkg")


async def test_a_failed_package_install_is_a_clear_error_and_leaves_nothing_running(
        client: Client, settings: Settings) -> None:
    result = await client.call_tool("create_sandbox", {"python_packages": ["/nonexistent/package-dir"]},
                                    raise_on_error=False)
    assert result.is_error
    assert "installing python_packages" in text_of(result)
    assert sandbox_processes(str(settings.sandboxes_dir)) == []


async def test_an_idle_sandbox_is_terminated(client: Client) -> None:
    sandbox_id, _ = await open_session(client, idle_timeout=1.5)
    await asyncio.sleep(4)
    assert sandbox_processes(sandbox_id) == []
    listing = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
    assert listing == []


async def test_a_sandbox_is_terminated_at_the_end_of_its_lifetime(client: Client) -> None:
    # A lifetime long enough for the sandbox to start and run a cell on a loaded machine; then waited out.
    sandbox_id, _ = await open_session(client, timeout=10)
    assert output_of(await client.call_tool("execute_code", {"code": "print('alive')"})).strip() == "alive"
    listed = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
    await asyncio.sleep(max(0.0, listed[0]["expires_in_s"]) + 2)
    assert sandbox_processes(sandbox_id) == []
    result = await client.call_tool("execute_code", {"code": "1"}, raise_on_error=False)
    assert result.is_error  # its session went with it (while it stops: "is being terminated (...lifetime...)")


async def test_a_running_cell_is_not_cut_short_by_the_idle_limit(client: Client) -> None:
    await open_session(client, idle_timeout=1)
    result = await client.call_tool("execute_code", {"code": "import time\ntime.sleep(3)\nprint('finished')"})
    assert output_of(result).strip() == "finished"


async def test_an_agent_that_stops_answering_fails_its_sandbox_without_hanging(client: Client) -> None:
    sandbox_id, _ = await open_session(client)
    agent = next(p for p in sandbox_processes(sandbox_id) if "seer_mcp.agent" in p.cmdline())
    agent.suspend()  # SIGSTOP: alive, but deaf
    try:
        started = asyncio.get_running_loop().time()
        result = await client.call_tool("execute_code", {"code": "1", "timeout": 1}, raise_on_error=False)
        assert asyncio.get_running_loop().time() - started < 25
    finally:
        with contextlib.suppress(psutil.Error):
            agent.resume()
    assert result.is_error
    assert "has failed" in text_of(result)
    assert sandbox_processes(sandbox_id) == []
    listing = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
    assert listing == []


async def test_the_toolkit_imports_in_every_kernel(client: Client) -> None:
    await open_session(client)
    result = await client.call_tool("execute_code", {"code": "import toolkit\nprint(callable(toolkit.get_activations))"})
    assert output_of(result).strip() == "True"


async def test_asking_the_local_backend_for_a_gpu_type_is_a_clear_error(client: Client) -> None:
    result = await client.call_tool("create_sandbox", {"gpu": "A100"}, raise_on_error=False)
    assert result.is_error
    assert "backend='modal'" in text_of(result)
