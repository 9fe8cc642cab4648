"""The server's side of the wire: `SandboxAgentClient` talks to one sandbox agent.

httpx errors and the agent's error replies are translated into seer-mcp's own
exceptions here, at the boundary, so callers never see a foreign exception.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from seer_mcp.backends.base import AgentAddress
from seer_mcp.errors import (
    InterfaceFailed,
    InvalidRequest,
    KernelDead,
    NotFound,
    PathOutsideSandbox,
    SandboxUnavailable,
    SeerError,
)
from seer_mcp.limits import (
    CELL_HEARTBEAT_S,
    CELL_INTERRUPT_GRACE_S,
    INTERFACE_CANCEL_GRACE_S,
    KERNEL_READY_TIMEOUT_S,
    SESSION_SETUP_TIMEOUT_S,
)
from seer_mcp.manager.transport import UnixSocketTransport
from seer_mcp.progress import CellProgressHandler
from seer_mcp.wire import (
    AgentHealth,
    CellProgress,
    CellResult,
    ErrorKind,
    ExecResult,
    FileContent,
    FileEntry,
    FileList,
    InterfaceCallResult,
    InterfaceInfo,
    MarkdownResult,
    NotebookPage,
    ServeInterfaceRequest,
    SessionInfo,
    StartSessionRequest,
)

T = TypeVar("T", bound=BaseModel)

# A cell's stream carries a heartbeat at least every CELL_HEARTBEAT_S, so
# missing three means the agent has stopped answering.
_STREAM_SILENCE_S = 3 * CELL_HEARTBEAT_S
# Past a cell's timeout the agent interrupts it and answers within its grace.
_CELL_REPLY_SLACK_S = CELL_INTERRUPT_GRACE_S + 5.0
_REQUEST_TIMEOUT_S = 60.0
# What a reply may take past the agent's own limit: the kill, the answer, the network.
_REPLY_SLACK_S = 15.0
# Stopping an interface worker that ignored its cancel and loading the file again.
_WORKER_REPLACE_S = 55.0


def _reply_within(cell_timeout: float, wait: float | None) -> float:
    """The agent answers a cell at its timeout (then the grace) or, with a wait, when the wait runs out."""
    return cell_timeout if wait is None else min(cell_timeout, wait)

# Every kind the agent sends, as the exception callers get; an unknown kind reads as SandboxUnavailable.
_BY_KIND: dict[ErrorKind, type[SeerError]] = {
    ErrorKind.BAD_REQUEST: InvalidRequest,
    ErrorKind.NOT_FOUND: NotFound,
    ErrorKind.OUTSIDE_SANDBOX: PathOutsideSandbox,
    ErrorKind.KERNEL_DEAD: KernelDead,
    ErrorKind.INTERFACE_LOAD_FAILED: InterfaceFailed,
    ErrorKind.INTERFACE_DEAD: InterfaceFailed,
    ErrorKind.UNAUTHORIZED: SandboxUnavailable,  # the server's own token: nothing the caller can fix
    ErrorKind.INTERNAL: SandboxUnavailable,
}


class SandboxAgentClient:
    """Requests go straight to an httpx transport: the client layer's URL merging,
    cookie and redirect handling cost a noticeable share of a trivial cell's hop."""

    def __init__(self, address: AgentAddress) -> None:
        self._transport: httpx.AsyncBaseTransport
        if address.socket_path:
            self._transport = UnixSocketTransport(address.socket_path)
            self._base_url = "http://sandbox-agent"
        elif address.url:
            self._transport = httpx.AsyncHTTPTransport(retries=2)
            self._base_url = address.url.rstrip("/")
        else:
            raise ValueError("an agent address needs a socket path or a URL")
        self._headers = {"Authorization": f"Bearer {address.token}"}

    async def close(self) -> None:
        await self._transport.aclose()

    # ----- plumbing ----------------------------------------------------------

    async def _send(self, method: str, path: str, *, read_timeout: float, json: Any = None,
                    params: dict[str, Any] | None = None, content: bytes | None = None) -> httpx.Response:
        """Sends a request; the caller reads (or streams) and closes the response."""
        request = httpx.Request(method, self._base_url + path, json=json, params=params, content=content,
                                headers=self._headers,
                                extensions={"timeout": {"connect": 10.0, "read": read_timeout,
                                                        "write": _REQUEST_TIMEOUT_S, "pool": 10.0}})
        return await self._transport.handle_async_request(request)

    async def _request(self, method: str, path: str, *, timeout: float = _REQUEST_TIMEOUT_S, **kwargs: Any) -> bytes:
        """One request and its whole reply body, with every failure translated into ours."""
        try:
            response = await self._send(method, path, read_timeout=timeout, **kwargs)
            try:
                body = await response.aread()
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise SandboxUnavailable(f"the sandbox did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise SandboxUnavailable(f"the sandbox is not reachable: {exc}") from exc
        _raise_for_error(response.status_code, body)
        return body

    async def _call(self, method: str, path: str, model: type[T] | None = None, **kwargs: Any) -> Any:
        body = await self._request(method, path, **kwargs)
        return json.loads(body) if model is None else model.model_validate_json(body)

    # ----- agent -------------------------------------------------------------

    async def health(self, timeout: float = 5.0) -> AgentHealth:
        return await self._call("GET", "/health", AgentHealth, timeout=timeout)

    async def shutdown(self) -> None:
        await self._call("POST", "/shutdown", timeout=15.0)

    async def set_lifetime(self, expires_at: float) -> None:
        """The agent's own lifetime limit, set anew (a warm-pool sandbox handed out)."""
        await self._call("POST", "/lifetime", json={"expires_at": expires_at})

    # ----- sessions and cells -----------------------------------------------

    async def start_session(self, request: StartSessionRequest) -> SessionInfo:
        return await self._call("POST", "/sessions", SessionInfo, json=request.model_dump(),
                                timeout=SESSION_SETUP_TIMEOUT_S)

    async def end_session(self, session_id: str) -> None:
        await self._call("DELETE", f"/sessions/{session_id}")

    async def execute(self, session_id: str, code: str, timeout: float,
                      on_progress: CellProgressHandler | None = None, wait: float | None = None) -> CellResult:
        """Runs a cell; with a `wait`, a cell still running then comes back as status "running" and goes on."""
        body = {"code": code, "timeout": timeout, "wait": wait}
        return await self._stream_cell(f"/sessions/{session_id}/execute", body, _reply_within(timeout, wait),
                                       on_progress)

    async def edit_cell(self, session_id: str, cell_index: int, code: str, timeout: float,
                        on_progress: CellProgressHandler | None = None, wait: float | None = None) -> CellResult:
        body = {"cell_index": cell_index, "code": code, "timeout": timeout, "wait": wait}
        return await self._stream_cell(f"/sessions/{session_id}/edit", body, _reply_within(timeout, wait),
                                       on_progress)

    async def wait_cell(self, session_id: str, wait: float, on_progress: CellProgressHandler | None = None) -> CellResult:
        """Waits up to `wait` more for the session's cell that came back "running"; shows only new output."""
        return await self._stream_cell(f"/sessions/{session_id}/wait", {"wait": wait}, wait, on_progress)

    async def _stream_cell(self, path: str, body: dict[str, Any], replies_within: float,
                           on_progress: CellProgressHandler | None) -> CellResult:
        """Reads the cell's reply: plain JSON for a quick cell, JSON lines (progress, result) for a slow one.

        Gives up, with SandboxUnavailable, once the agent is silent for longer
        than its heartbeat allows or past the cell's timeout plus the agent's grace.
        """
        try:
            async with asyncio.timeout(replies_within + _CELL_REPLY_SLACK_S):
                response = await self._send("POST", path, json=body, read_timeout=_STREAM_SILENCE_S)
                try:
                    return await self._read_cell_reply(response, on_progress)
                finally:
                    await response.aclose()
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise SandboxUnavailable("the sandbox stopped answering during the cell") from exc
        except httpx.TransportError as exc:
            raise SandboxUnavailable(f"lost the connection to the sandbox during the cell: {exc}") from exc

    @staticmethod
    async def _read_cell_reply(response: httpx.Response, on_progress: CellProgressHandler | None) -> CellResult:
        if response.status_code >= 400:
            _raise_for_error(response.status_code, await response.aread())
        if not response.headers.get("content-type", "").startswith("application/x-ndjson"):
            return CellResult.model_validate_json(await response.aread())  # a quick cell
        async for line in response.aiter_lines():
            if not line:
                continue
            event = json.loads(line)
            kind = event.get("type")
            if kind == "progress":
                if on_progress is not None:
                    await on_progress(CellProgress.model_validate(event))
            elif kind == "result":
                return CellResult.model_validate(event)
            elif kind == "error":
                _raise_for_error(500, json.dumps(event).encode())
        raise SandboxUnavailable("the sandbox closed the cell's stream without a result")

    async def add_markdown(self, session_id: str, content: str) -> MarkdownResult:
        return await self._call("POST", f"/sessions/{session_id}/markdown", MarkdownResult, json={"content": content})

    async def interrupt(self, session_id: str) -> SessionInfo:
        return await self._call("POST", f"/sessions/{session_id}/interrupt", SessionInfo)

    async def restart(self, session_id: str) -> SessionInfo:
        # The agent stops the kernel, starts another and waits up to KERNEL_READY_TIMEOUT_S for it to answer.
        return await self._call("POST", f"/sessions/{session_id}/restart", SessionInfo,
                                timeout=KERNEL_READY_TIMEOUT_S + 60.0)

    async def notebook_page(self, session_id: str, start: int, limit: int) -> NotebookPage:
        return await self._call("GET", f"/sessions/{session_id}/notebook", NotebookPage,
                                params={"start": start, "limit": limit})

    async def notebook_bytes(self, session_id: str) -> bytes:
        return await self._request("GET", f"/sessions/{session_id}/notebook.ipynb")

    # ----- shell and files ---------------------------------------------------

    async def exec(self, command: str, timeout: float) -> ExecResult:
        return await self._call("POST", "/exec", ExecResult, json={"command": command, "timeout": timeout},
                                timeout=timeout + _REPLY_SLACK_S)

    async def read_file(self, path: str) -> FileContent:
        return await self._call("GET", "/files", FileContent, params={"path": path})

    async def write_file(self, path: str, content: str) -> FileEntry:
        return await self._call("PUT", "/files", FileEntry, json={"path": path, "content": content})

    async def upload(self, path: str, data: bytes) -> FileEntry:
        return await self._call("PUT", "/files/raw", FileEntry, params={"path": path}, content=data)

    async def download(self, path: str) -> bytes:
        return await self._request("GET", "/files/raw", params={"path": path}, timeout=600.0)

    async def list_files(self, path: str) -> FileList:
        return await self._call("GET", "/files/list", FileList, params={"path": path})


    # ----- interfaces --------------------------------------------------------

    async def list_interfaces(self) -> list[InterfaceInfo]:
        return [InterfaceInfo.model_validate(i) for i in await self._call("GET", "/interfaces")]

    async def serve_interface(self, request: ServeInterfaceRequest) -> InterfaceInfo:
        return await self._call("POST", "/interfaces", InterfaceInfo, json=request.model_dump(),
                                timeout=request.load_timeout + _REPLY_SLACK_S)

    async def reload_interface(self, name: str, load_timeout: float) -> InterfaceInfo:
        return await self._call("POST", f"/interfaces/{name}/reload", InterfaceInfo,
                                timeout=load_timeout + _REPLY_SLACK_S)

    async def stop_interface(self, name: str) -> None:
        await self._call("DELETE", f"/interfaces/{name}", timeout=30.0)

    async def call_interface(self, name: str, function: str, arguments: dict[str, Any],
                             timeout: float) -> InterfaceCallResult:
        # The agent answers by the call's timeout plus its cancel grace; a stuck worker is replaced first.
        return await self._call("POST", f"/interfaces/{name}/call/{function}", InterfaceCallResult,
                                json={"arguments": arguments, "timeout": timeout},
                                timeout=timeout + INTERFACE_CANCEL_GRACE_S + _WORKER_REPLACE_S)


def _raise_for_error(status: int, body: bytes) -> None:
    """Raises the exception of the agent's error reply (an `AgentError`), by its kind."""
    if status < 400:
        return
    try:
        data = json.loads(body)
        kind, message = _kind(data.get("error")), data.get("message", "")
    except (json.JSONDecodeError, AttributeError):
        kind, message = None, body.decode(errors="replace")[:500]
    if status == 401:
        raise SandboxUnavailable("the sandbox rejected the server's token")
    error = SandboxUnavailable if kind is None else _BY_KIND[kind]
    raise error(message or f"sandbox agent error (HTTP {status})")


def _kind(value: Any) -> ErrorKind | None:
    """The reply's ErrorKind; None for one this server does not know (an older or newer agent)."""
    try:
        return ErrorKind(value)
    except ValueError:
        return None
