"""SEER_WARM_SANDBOXES: sandboxes of the default spec started ahead, handed out by create_sandbox, seen by no
one until then, held to the same limits, replaced when taken or reaped, and never left behind."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastmcp import Client

from seer_mcp.manager.state import RUNNING, StateStore
from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.conftest import output_of, sandbox_processes, server_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _running(settings: Settings) -> dict[str, dict]:
    """What the state database records as running (as `seer-mcp ls` reads it), by sandbox id."""
    store = StateStore(settings.database_path)
    try:
        return {r.sandbox_id: {"handle": r.handle, "created_at": r.created_at, "expires_at": r.expires_at,
                               "name": r.name} for r in store.sandboxes(status=RUNNING)}
    finally:
        store.close()


async def _until(check, within: float = 120.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + within
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)
    return found


def _record(settings: Settings, sandbox_id: str):  # noqa: ANN202
    store = StateStore(settings.database_path)
    try:
        return store.sandbox(sandbox_id)
    finally:
        store.close()


def _pooled(settings: Settings) -> set[str]:
    return {i for i, r in _running(settings).items() if r["handle"].get("warm_pool")}


async def test_create_sandbox_takes_a_ready_one_and_the_pool_starts_another(settings: Settings) -> None:
    pooled = settings.model_copy(update={"warm_sandboxes": 1, "terminate_on_exit": False})
    async with Client(build_server(pooled)) as client:
        (ready,) = await _until(lambda: _pooled(pooled))
        # Waiting in the pool, it is no one's: not listed, not inferred, not reachable by its id.
        assert (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"] == []
        refused = await client.call_tool("start_session", {}, raise_on_error=False)
        assert refused.is_error and "no sandbox yet" in output_of(refused)
        refused = await client.call_tool("start_session", {"sandbox_id": ready}, raise_on_error=False)
        assert refused.is_error and f"no sandbox {ready!r}" in output_of(refused)

        asked = time.time()
        created = (await client.call_tool("create_sandbox", {"name": "mine"})).structured_content
        assert created["sandbox_id"] == ready and created["name"] == "mine"
        assert created["age_s"] > time.time() - asked  # started before it was asked for
        record = _running(pooled)[ready]
        assert record["name"] == "mine" and "warm_pool" not in record["handle"]
        assert record["expires_at"] >= asked + 3600 - 5  # its lifetime counts from now, not from its start
        # It is the caller's now: sessions and cells as in any sandbox (its kernel was started ahead).
        await client.call_tool("start_session", {})
        printed = await client.call_tool("execute_code", {"code": "print(6 * 7)"})
        assert output_of(printed) == "42"
        listed = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
        assert [s["sandbox_id"] for s in listed] == [ready]

        # The pool refilled; a spec other than the default never takes from it.
        (refill,) = await _until(lambda: _pooled(pooled))
        assert refill != ready
        other = (await client.call_tool("create_sandbox", {"env": {"X": "1"}})).structured_content
        assert other["sandbox_id"] not in (ready, refill) and _pooled(pooled) == {refill}
    # The server exited: the pool's sandbox is terminated (it is no one's), the handed-out ones are kept.
    left = _running(pooled)
    assert refill not in left and set(left) == {ready, other["sandbox_id"]}
    assert not sandbox_processes(refill)
    async with Client(build_server(settings)) as client:
        for sandbox_id in left:
            await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox_id})


async def test_a_pool_sandbox_is_reaped_when_idle_and_replaced(settings: Settings) -> None:
    pooled = settings.model_copy(update={"warm_sandboxes": 1, "idle_timeout": 4, "terminate_on_exit": True})
    async with Client(build_server(pooled)):
        (first,) = await _until(lambda: _pooled(pooled))
        (second,) = await _until(lambda: (_pooled(pooled) - {first}) or None, within=60)
        ended = _record(pooled, first)
        assert ended.status == "terminated" and "idle" in ended.detail
        assert not sandbox_processes(first)
    assert not sandbox_processes(str(pooled.state_dir))


def test_a_pool_an_earlier_server_left_is_terminated_by_the_next(settings: Settings, tmp_path: Path) -> None:
    env = {**server_env(settings.model_copy(update={"terminate_on_exit": False})), "SEER_WARM_SANDBOXES": "1"}
    server = subprocess.Popen([sys.executable, "-m", "seer_mcp", "serve"], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.err", "w"))
    try:
        deadline = time.monotonic() + 120
        while not _pooled(settings):
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.err").read_text()
            time.sleep(0.2)
        (left,) = _pooled(settings)
    finally:
        server.send_signal(signal.SIGKILL)  # no chance to clean up
        server.wait(10)
    assert sandbox_processes(left)  # its agent outlived the server

    async def next_server() -> None:
        async with Client(build_server(settings)) as client:
            assert (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"] == []

    asyncio.run(next_server())
    record = _record(settings, left)
    assert record.status == "terminated" and "warm-pool sandbox of an earlier server" in record.detail
    assert not sandbox_processes(left)
