"""The conformance suite: what every backend must do, checked through MCP tool calls only.

Each check takes a fastmcp `Client` of a seer-mcp server whose `create_sandbox`
defaults to the backend under test, and that backend's declared
`BackendCapabilities`. Sandboxes, notebook and cli sessions, files, interfaces
and snapshots must behave the same on every backend; a check for something the
capabilities say the backend cannot do is skipped (`Check.skip_reason`), and
other checks hold the backend to what it declares (what it says it cannot do,
it refuses at create; what it says it can, it does). seer-mcp's own test suite
runs these checks against every built-in backend (`tests/backends/`).

Run it against your backend, once it is registered under the `seer_mcp.backends`
entry point group::

    import asyncio
    from seer_mcp.backends.conformance import run_conformance
    from seer_mcp.settings import Settings

    report = asyncio.run(run_conformance(Settings(default_backend="mybackend")))
    print(report)  # one PASS / SKIP / FAIL line per check; report.ok is True when none failed

Or one pytest test per check (pytest-asyncio, auto mode); `skip=pytest.skip` makes a
check that does not apply a skipped test::

    from seer_mcp.backends.conformance import Check, conformance_checks, run_check

    @pytest.mark.parametrize("check", conformance_checks(), ids=str)
    async def test_mybackend_conforms(check: Check, tmp_path: Path) -> None:
        settings = Settings(state_dir=tmp_path / "state", outputs_dir=tmp_path / "outputs",
                            default_backend="mybackend", _env_file=None)
        await run_check(check, settings, skip=pytest.skip)

A check that sees something other than the contract raises `ConformanceFailure`
(an `AssertionError`) whose message names the check and what differed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from fastmcp import Client
from fastmcp.exceptions import ToolError

from seer_mcp.backends import backend_capabilities
from seer_mcp.backends.base import BackendCapabilities
from seer_mcp.backends.conformance_checks import REGISTERED, CheckFn
from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings

__all__ = ["Check", "CheckResult", "CheckSkipped", "ConformanceFailure", "ConformanceReport", "conformance_checks",
           "run_check", "run_conformance"]


class ConformanceFailure(AssertionError):
    """A backend did something other than the contract says; the message names the check and what differed."""

    def __init__(self, check: str, difference: str) -> None:
        super().__init__(f"{check}: {difference}")
        self.check = check
        self.difference = difference


class CheckSkipped(Exception):
    """A check that does not apply: the backend's capabilities say it cannot do what the check needs."""


@dataclass(frozen=True)
class Check:
    """One behaviour every backend must have. `name` reads as a sentence (underscored, like a test's)."""

    name: str
    run: CheckFn
    skip_when: Callable[[BackendCapabilities], str | None] = lambda capabilities: None

    def __str__(self) -> str:
        return self.name

    def skip_reason(self, capabilities: BackendCapabilities) -> str | None:
        """Why this check does not apply to a backend with these capabilities, or None when it does."""
        return self.skip_when(capabilities)

    async def __call__(self, client: Client, capabilities: BackendCapabilities) -> None:
        """Runs the check: raises `CheckSkipped` when it does not apply, `ConformanceFailure` when it fails."""
        if reason := self.skip_reason(capabilities):
            raise CheckSkipped(reason)
        try:
            await self.run(client, capabilities)
        except ToolError as exc:
            raise ConformanceFailure(self.name, f"a tool call the contract says succeeds failed: {exc}") from exc
        except AssertionError as exc:
            raise ConformanceFailure(self.name, str(exc)) from exc


def conformance_checks() -> list[Check]:
    """Every check, in a fixed order; each one starts from a server with no sandboxes and no snapshots."""
    return [Check(name, run, skip_when) for name, run, skip_when in REGISTERED]


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: Literal["passed", "skipped", "failed"]
    detail: str = ""  # the skip's reason or what differed

    def __str__(self) -> str:
        label = {"passed": "PASS", "skipped": "SKIP", "failed": "FAIL"}[self.outcome]
        return f"{label} {self.name}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class ConformanceReport:
    backend: str
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(result.outcome != "failed" for result in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [result for result in self.results if result.outcome == "failed"]

    def __str__(self) -> str:
        counts = {o: sum(r.outcome == o for r in self.results) for o in ("passed", "skipped", "failed")}
        summary = ", ".join(f"{n} {o}" for o, n in counts.items())
        return "\n".join([f"conformance of the {self.backend} backend: {summary}", *map(str, self.results)])


def _raise_skipped(reason: str) -> NoReturn:
    raise CheckSkipped(reason)


async def run_check(check: Check, settings: Settings, *, skip: Callable[[str], Any] = _raise_skipped) -> None:
    """Runs one check against a fresh server built from `settings` (its `default_backend` is under test).

    Calls `skip(reason)` when the check does not apply (by default it raises `CheckSkipped`; pass
    `pytest.skip` in a test); raises `ConformanceFailure` when it fails. Every sandbox and snapshot
    the check leaves is ended before this returns, so a remote backend is not left paying for them.
    """
    capabilities = backend_capabilities(settings.default_backend)
    if reason := check.skip_reason(capabilities):
        skip(reason)
        return
    async with Client(build_server(settings)) as client:
        try:
            await check(client, capabilities)
        finally:
            await _end_everything(client)


async def run_conformance(settings: Settings, checks: list[Check] | None = None) -> ConformanceReport:
    """Runs every check (or `checks`) against `settings.default_backend`, each in fresh state and outputs
    folders of its own under a temporary folder; other settings are used as given."""
    results = []
    for check in conformance_checks() if checks is None else checks:
        with tempfile.TemporaryDirectory(prefix="seer-conformance-") as folder:
            fresh = settings.model_copy(update={"state_dir": Path(folder, "state"),
                                                "outputs_dir": Path(folder, "outputs")})
            try:
                await run_check(check, fresh)
            except CheckSkipped as exc:
                results.append(CheckResult(check.name, "skipped", str(exc)))
            except ConformanceFailure as exc:
                results.append(CheckResult(check.name, "failed", exc.difference))
            except Exception as exc:  # a crash of the backend or the server is a failure too, with what it said
                results.append(CheckResult(check.name, "failed", f"{type(exc).__name__}: {exc}"))
            else:
                results.append(CheckResult(check.name, "passed"))
    return ConformanceReport(settings.default_backend, results)


async def _end_everything(client: Client) -> None:
    snapshots = await client.call_tool("list_snapshots", {}, raise_on_error=False)
    for snapshot in (snapshots.structured_content or {}).get("snapshots", []):
        await client.call_tool("delete_snapshot", {"snapshot_id": snapshot["snapshot_id"]}, raise_on_error=False)
    sandboxes = await client.call_tool("list_sandboxes", {}, raise_on_error=False)
    for sandbox in (sandboxes.structured_content or {}).get("sandboxes", []):
        await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox["sandbox_id"]}, raise_on_error=False)
