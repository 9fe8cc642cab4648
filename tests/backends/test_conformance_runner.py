"""The conformance suite as a third party runs it: `run_conformance`, `run_check`, and what a failure says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastmcp import Client

import seer_mcp.backends.conformance as conformance
from seer_mcp.backends.base import BackendCapabilities
from seer_mcp.backends.conformance import (Check, CheckSkipped, ConformanceFailure, conformance_checks, run_check,
                                           run_conformance)
from seer_mcp.backends.conformance_checks import expect_equal
from seer_mcp.settings import Settings
from tests.conftest import sandbox_processes


async def _differs(client: Client, capabilities: BackendCapabilities) -> None:
    listed = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
    expect_equal(len(listed), 1, "the number of sandboxes")


async def _fails_a_tool_call(client: Client, capabilities: BackendCapabilities) -> None:
    await client.call_tool("terminate_sandbox", {"sandbox_id": "sb-nonexistent"})


DIFFERS = Check("a_fresh_server_lists_one_sandbox", _differs)
TOOL_FAILS = Check("an_unknown_sandbox_terminates", _fails_a_tool_call)
NEVER_APPLIES = Check("needs_gpus", _differs, skip_when=lambda capabilities: None if capabilities.gpus else "no gpus")


def local_settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", outputs_dir=tmp_path / "outputs", default_backend="local",
                    _env_file=None)


def test_the_package_module_does_not_need_pytest() -> None:
    code = "import sys, seer_mcp.backends.conformance; print('pytest' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_its_public_names_exist_and_every_check_has_a_distinct_name() -> None:
    assert all(hasattr(conformance, name) for name in conformance.__all__)
    names = [check.name for check in conformance_checks()]
    assert len(names) == len(set(names)) and all(" " not in name for name in names)


async def test_a_failed_check_names_itself_and_what_differed(tmp_path: Path) -> None:
    with pytest.raises(ConformanceFailure) as raised:
        await run_check(DIFFERS, local_settings(tmp_path))
    assert str(raised.value) == "a_fresh_server_lists_one_sandbox: expected the number of sandboxes to be 1, got 0"
    assert isinstance(raised.value, AssertionError) and raised.value.check == DIFFERS.name


async def test_a_tool_call_that_fails_is_a_failure_of_the_check(tmp_path: Path) -> None:
    with pytest.raises(ConformanceFailure, match=r"^an_unknown_sandbox_terminates: a tool call the contract says "
                                                 r"succeeds failed: .*sb-nonexistent"):
        await run_check(TOOL_FAILS, local_settings(tmp_path))


async def test_a_check_the_capabilities_rule_out_is_skipped_with_its_reason(tmp_path: Path) -> None:
    with pytest.raises(CheckSkipped, match="no gpus"):
        await run_check(NEVER_APPLIES, local_settings(tmp_path))
    reasons: list[str] = []
    await run_check(NEVER_APPLIES, local_settings(tmp_path), skip=reasons.append)
    assert reasons == ["no gpus"]


@pytest.mark.slow
async def test_run_conformance_reports_each_check_and_ends_what_they_started(tmp_path: Path) -> None:
    [outside] = [c for c in conformance_checks() if c.name == "a_path_outside_the_workspace_is_refused-/etc/passwd"]
    report = await run_conformance(local_settings(tmp_path), [outside, DIFFERS, NEVER_APPLIES])
    assert [(r.name, r.outcome) for r in report.results] == [(outside.name, "passed"), (DIFFERS.name, "failed"),
                                                             (NEVER_APPLIES.name, "skipped")]
    assert not report.ok and report.failed == [report.results[1]]
    assert str(report).splitlines() == [
        "conformance of the local backend: 1 passed, 1 skipped, 1 failed",
        f"PASS {outside.name}",
        "FAIL a_fresh_server_lists_one_sandbox: expected the number of sandboxes to be 1, got 0",
        "SKIP needs_gpus: no gpus"]
    assert sandbox_processes("seer-conformance-") == []  # each check's folders, and what ran in them, are gone
