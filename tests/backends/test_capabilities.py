"""Each built-in backend does what its `capabilities` declare, through the public entry points.

The conformance suite holds every backend to its declaration (`snapshots`: the
snapshot check, or a refusal; `gpus` false: a gpu refused at create;
`network_off`: network=false enforced, or refused at create), and
test_conformance.py runs it for each built-in one. Here: what each declares,
and what the suite cannot check in every backend (`on_server_host`; `gpus` true,
through the fake Modal).
"""

from __future__ import annotations

import pytest
from fastmcp import Client

from seer_mcp.backends import backend_capabilities
from seer_mcp.backends.base import BackendCapabilities
from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings


def test_the_built_in_backends_declare_what_they_can_do() -> None:
    assert backend_capabilities("local") == BackendCapabilities(on_server_host=True, snapshots=True,
                                                                network_off=True)
    assert backend_capabilities("modal") == BackendCapabilities(snapshots=True, gpus=True)


@pytest.mark.slow
async def test_a_stopping_server_ends_the_sandboxes_on_its_host_only(backend_name: str,
                                                                      backend_settings: Settings) -> None:
    settings = backend_settings.model_copy(update={"terminate_on_exit": True})
    async with Client(build_server(settings)) as client:
        sandbox_id = (await client.call_tool("create_sandbox", {})).structured_content["sandbox_id"]
    async with Client(build_server(settings)) as client:
        listed = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"]
        if backend_capabilities(backend_name).on_server_host:
            assert sandbox_id not in [s["sandbox_id"] for s in listed]
        else:  # it lives on without the server, and the next one re-attaches to it
            assert [(s["sandbox_id"], s["status"]) for s in listed] == [(sandbox_id, "running")]
            await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox_id})


@pytest.mark.slow
async def test_a_backend_that_declares_gpus_starts_a_gpu_sandbox(backend_name: str, backend_settings: Settings
                                                                 ) -> None:
    if not backend_capabilities(backend_name).gpus:
        pytest.skip(f"the {backend_name} backend declares no GPUs; the conformance suite checks its refusal")
    async with Client(build_server(backend_settings)) as client:
        created = (await client.call_tool("create_sandbox", {"gpu": "T4"})).structured_content
        assert created["status"] == "running" and created["gpu"] == "T4"
