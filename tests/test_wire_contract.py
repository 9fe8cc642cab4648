"""The error contract across the process boundary: each kind the sandbox agent sends, the server reads.

The agent turns an exception into a reply of one `ErrorKind` (`seer_mcp.agent.replies.ERRORS`); the
server turns that kind into one of its exceptions (`seer_mcp.manager.agent_client._BY_KIND`). These
tests hold the two tables to `seer_mcp.wire.ErrorKind`, and send real replies from one to the other.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from seer_mcp.agent import app as agent_app
from seer_mcp.agent import files, replies
from seer_mcp.agent.interface_worker import Worker
from seer_mcp.agent.interfaces import InterfaceDeadError, InterfaceLoadError
from seer_mcp.agent.kernels import KernelDeadError
from seer_mcp.agent.signatures import ExposedFunction
from seer_mcp.errors import (
    InterfaceFailed,
    InvalidRequest,
    KernelDead,
    NotFound,
    PathOutsideSandbox,
    SandboxUnavailable,
    SeerError,
)
from seer_mcp.manager.agent_client import _BY_KIND, _raise_for_error
from seer_mcp.wire import AgentError, ErrorKind

# Kinds the agent sends outside its table: a request body that does not validate, a wrong token, a bug.
_SENT_OUTSIDE_THE_TABLE = {ErrorKind.BAD_REQUEST, ErrorKind.UNAUTHORIZED, ErrorKind.INTERNAL}
# Kinds that say only that the sandbox cannot serve the server: nothing the caller's arguments can fix.
_UNAVAILABLE = {ErrorKind.UNAUTHORIZED, ErrorKind.INTERNAL}


def _server_error_for(exc: BaseException) -> SeerError:
    """What the server raises for the agent's reply to `exc`."""
    reply = replies.error_response(exc)
    with pytest.raises(SeerError) as raised:
        _raise_for_error(reply.status_code, bytes(reply.body))
    return raised.value


def test_the_agents_table_uses_only_error_kinds() -> None:
    for raised, status, kind in replies.ERRORS:
        assert isinstance(kind, ErrorKind), (raised, kind)
        assert 400 <= status < 500, (raised, status)


def test_every_error_kind_is_one_the_agent_sends() -> None:
    assert {kind for _, _, kind in replies.ERRORS} | _SENT_OUTSIDE_THE_TABLE == set(ErrorKind)


def test_every_error_kind_maps_to_a_server_exception() -> None:
    assert set(_BY_KIND) == set(ErrorKind)
    assert all(isinstance(kind, ErrorKind) and issubclass(error, SeerError) for kind, error in _BY_KIND.items())


def test_unauthorized_and_internal_read_as_an_unavailable_sandbox() -> None:
    assert {kind for kind, error in _BY_KIND.items() if error is SandboxUnavailable} == _UNAVAILABLE


def test_each_kind_of_the_agents_table_is_a_specific_server_exception() -> None:
    for raised, _, kind in replies.ERRORS:
        assert _BY_KIND[kind] is not SandboxUnavailable, (raised, kind)


class _Body(BaseModel):
    count: int


def _validation_error() -> Exception:
    try:
        _Body.model_validate({"count": "many"})
    except Exception as exc:
        return exc
    raise AssertionError("the body validated")


@pytest.mark.parametrize(("agent_exception", "server_exception"), [
    (files.PathOutsideSandbox("path '../x' is outside the sandbox"), PathOutsideSandbox),
    (IndexError("cell_index 7 is out of range: the notebook has 1 cells"), InvalidRequest),
    (LookupError("no session 'ses-x' in this sandbox"), NotFound),
    (KeyError("x"), NotFound),
    (FileNotFoundError("no file at 'x' in the sandbox"), NotFound),
    (KernelDeadError("kernel died, state lost; call restart_kernel"), KernelDead),
    (InterfaceLoadError("interface 'probe' failed to load"), InterfaceFailed),
    (InterfaceDeadError("interface worker died"), InterfaceFailed),
    (files.NotATextFile("'x' is a binary file"), InvalidRequest),
    (ValueError("session 'ses-x' already exists"), InvalidRequest),
    (NotADirectoryError("no directory at 'x' in the sandbox"), InvalidRequest),
    (_validation_error(), InvalidRequest),
    (RuntimeError("a bug in the agent"), SandboxUnavailable),
], ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value.__name__)
def test_an_agent_exception_reaches_the_server_as_its_own_exception(
        agent_exception: BaseException, server_exception: type[SeerError]) -> None:
    error = _server_error_for(agent_exception)
    assert type(error) is server_exception
    if len(agent_exception.args) == 1 and isinstance(agent_exception.args[0], str):
        assert agent_exception.args[0] in str(error)


def test_an_index_past_the_end_is_a_bad_request_not_a_missing_thing() -> None:
    reply = replies.error_response(IndexError("cell_index 7 is out of range"))
    assert reply.status_code == 400
    assert AgentError.model_validate_json(bytes(reply.body)).error is ErrorKind.BAD_REQUEST


def test_a_path_escape_is_refused_as_outside_the_sandbox() -> None:
    reply = replies.error_response(files.PathOutsideSandbox("path '../x' is outside the sandbox"))
    assert reply.status_code == 403
    assert AgentError.model_validate_json(bytes(reply.body)).error is ErrorKind.OUTSIDE_SANDBOX


def test_a_kind_the_server_does_not_know_reads_as_an_unavailable_sandbox() -> None:
    with pytest.raises(SandboxUnavailable, match="from a newer agent"):
        _raise_for_error(409, json.dumps({"error": "busy", "message": "from a newer agent"}).encode())


def test_a_reply_that_is_not_json_reads_as_an_unavailable_sandbox() -> None:
    with pytest.raises(SandboxUnavailable, match="Bad Gateway"):
        _raise_for_error(502, b"Bad Gateway")


def test_an_error_event_in_a_cell_stream_carries_its_kind() -> None:
    reply = replies.error_response(KernelDeadError("kernel died, state lost"))
    event = json.dumps({"type": "error", **json.loads(bytes(reply.body))}).encode()
    with pytest.raises(KernelDead, match="kernel died"):
        _raise_for_error(500, event)


async def test_the_agents_refusal_of_a_wrong_token_is_unauthorized(tmp_path: Path) -> None:
    layout = agent_app.SandboxLayout(root=tmp_path, runtime=tmp_path / "run")
    agent = agent_app.AgentState(layout, kernel_env={}, mirror_dir=None)
    asgi = agent_app.create_app(agent, "the-token", stop=lambda: None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://agent") as http:
        refused = await http.get("/health", headers={"Authorization": "Bearer guess"})
        allowed = await http.get("/health", headers={"Authorization": "Bearer the-token"})
    assert refused.status_code == 401
    assert AgentError.model_validate_json(refused.content).error is ErrorKind.UNAUTHORIZED
    assert allowed.status_code == 200
    with pytest.raises(SandboxUnavailable, match="rejected the server's token"):
        _raise_for_error(refused.status_code, refused.content)


# ----- the interface worker's refusals ---------------------------------------------------------


def _refusal(tmp_path: Path, request: dict[str, object]) -> dict[str, object]:
    """The reply of a worker serving one function, `probe(layer: int)`, to a call it refuses."""
    def probe(layer: int) -> int:
        return layer

    out = io.StringIO()
    worker = Worker(tmp_path / "probe.py", "probe", out)
    worker.functions["probe"] = ExposedFunction.build("probe", probe, thread_safe=False)
    worker.call(request)
    reply = json.loads(out.getvalue())
    assert reply["op"] == "refused" and reply["id"] == request["id"]
    return reply


def test_a_call_of_a_function_the_worker_lacks_is_refused_as_not_found(tmp_path: Path) -> None:
    reply = _refusal(tmp_path, {"op": "call", "id": 1, "function": "missing", "arguments": {}})
    assert ErrorKind(reply["error"]) is ErrorKind.NOT_FOUND


def test_a_call_with_wrong_arguments_is_refused_as_a_bad_request(tmp_path: Path) -> None:
    reply = _refusal(tmp_path, {"op": "call", "id": 2, "function": "probe", "arguments": {"layer": "x"}})
    assert ErrorKind(reply["error"]) is ErrorKind.BAD_REQUEST
