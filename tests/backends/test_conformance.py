"""The packaged conformance suite (`seer_mcp.backends.conformance`), run against every built-in backend.

Each check runs once per backend (the `backend_name` fixture), through MCP tool
calls only: the local backend, and the Modal backend against `tests.fake_modal`.
A check that the backend's declared capabilities rule out is skipped before any
server starts.
"""

from __future__ import annotations

import pytest
from fastmcp import Client

from seer_mcp.backends import backend_capabilities
from seer_mcp.backends.base import BackendCapabilities
from seer_mcp.backends.conformance import Check, conformance_checks

pytestmark = pytest.mark.slow


@pytest.fixture
def capabilities(backend_name: str, check: Check) -> BackendCapabilities:
    """The backend's declared capabilities; skips a check they rule out (listed before `backend`, so first)."""
    declared = backend_capabilities(backend_name)
    if reason := check.skip_reason(declared):
        pytest.skip(reason)
    return declared


@pytest.mark.parametrize("check", conformance_checks(), ids=str)
async def test_the_backend_passes_the_check(check: Check, capabilities: BackendCapabilities, backend: Client
                                            ) -> None:
    await check(backend, capabilities)
