"""What a served interface's client module runs: calls over the sandbox agent's HTTP API.

`seer_mcp.manager.interface_client` writes, for each interface served as a library, a small
module `<name>.py` holding the interface's address, token and one function per exposed function;
each function hands its arguments to `RemoteInterface.call`, defined here. This file is copied
beside those modules as `_seer_interface_runtime.py` (`RUNTIME_MODULE`), one copy shared by every
client in the folder, so its content never depends on an interface.

It is imported wherever the caller runs: a kernel of another sandbox, perhaps another Python
environment (Python 3.11 or later) that lacks httpx, numpy, torch and seer_mcp. So it uses the
standard library only, and never imports seer_mcp. The error kinds below mirror
`seer_mcp.wire.ErrorKind`; a test keeps them equal.

Exceptions, all with `kind` saying what failed:

    InterfaceError                 the agent refused the call (`kind` is its error kind, `status` the HTTP status)
    ├── RemoteFunctionError        the function raised ("exception") or returned no JSON ("result")
    ├── InterfaceTimeout           the call was cancelled past its time limit, or no reply came ("timeout")
    └── InterfaceUnavailable       the agent could not be reached or the connection broke ("unavailable")

Generated clients call `RemoteInterface(...)`, `.call(...)` and `RemoteDefault(...)`: clients written
earlier may sit beside a newer copy of this file, so change those compatibly.
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import re
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final
from urllib.parse import quote, urlsplit

__all__ = [
    "AGENT_ERROR_KINDS",
    "CALL_FAILURE_KINDS",
    "RUNTIME_MODULE",
    "HTTPAddress",
    "InterfaceError",
    "InterfaceTimeout",
    "InterfaceUnavailable",
    "RemoteDefault",
    "RemoteFunctionError",
    "RemoteInterface",
    "parse_url",
]

RUNTIME_MODULE: Final = "_seer_interface_runtime"  # the name this file is imported by, beside the clients

# The agent's error kinds (`AgentError.error`, seer_mcp.wire.ErrorKind), which an InterfaceError's kind carries.
BAD_REQUEST: Final = "bad_request"
NOT_FOUND: Final = "not_found"
OUTSIDE_SANDBOX: Final = "outside_sandbox"
KERNEL_DEAD: Final = "kernel_dead"
INTERFACE_LOAD_FAILED: Final = "interface_load_failed"
INTERFACE_DEAD: Final = "interface_dead"
UNAUTHORIZED: Final = "unauthorized"
INTERNAL: Final = "internal"
AGENT_ERROR_KINDS: Final = frozenset({BAD_REQUEST, NOT_FOUND, OUTSIDE_SANDBOX, KERNEL_DEAD, INTERFACE_LOAD_FAILED,
                                      INTERFACE_DEAD, UNAUTHORIZED, INTERNAL})

# How a finished call failed (`InterfaceCallResult.kind`).
CALL_RAISED: Final = "exception"
CALL_RESULT_NOT_JSON: Final = "result"
CALL_TIMED_OUT: Final = "timeout"
CALL_FAILURE_KINDS: Final = frozenset({CALL_RAISED, CALL_RESULT_NOT_JSON, CALL_TIMED_OUT})

# This side's own: the agent could not be reached (no reply in time is CALL_TIMED_OUT too).
UNAVAILABLE: Final = "unavailable"

CONNECT_TIMEOUT: Final = 30.0
# The remote side cancels a call after its call timeout; this slack covers cancelling it and sending the reply.
REPLY_SLACK: Final = 30.0

_ANSI_ESCAPE: Final = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class InterfaceError(Exception):
    """A call to the interface failed.

    `kind` says how (the agent's error kind, or exception / result / timeout / unavailable), `status` is the
    HTTP status when the agent refused the call, and `remote_traceback` is the remote side's traceback, if any.
    """

    def __init__(self, message: str, *, kind: str = "error", status: int | None = None, remote_traceback: str = "",
                 ename: str = "", evalue: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.remote_traceback = remote_traceback
        self.ename = ename
        self.evalue = evalue


class RemoteFunctionError(InterfaceError):
    """The remote function raised (kind "exception") or returned a value that is not JSON (kind "result")."""


class InterfaceTimeout(InterfaceError):
    """The call ran past its time limit and was cancelled, or no reply came in time (kind "timeout")."""


class InterfaceUnavailable(InterfaceError):
    """The sandbox agent could not be reached, or the connection broke during the call (kind "unavailable")."""


class RemoteDefault:
    """A default only the remote side can build: the argument is left out of the call, so that default applies."""

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        self.source = source

    def __repr__(self) -> str:
        return "<remote default: " + self.source + ">"


# ----- addresses ------------------------------------------------------------------


@dataclass(frozen=True)
class HTTPAddress:
    """An agent reached over http(s); `path_prefix` is the URL's path, without a trailing slash."""

    scheme: str
    host: str
    port: int
    path_prefix: str
    shown: str  # the URL without any user info: for messages, and what a client module keeps


def parse_url(url: str) -> HTTPAddress:
    """The agent's http(s) base URL, checked; raises ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be an http:// or https:// URL with a host, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"url must not have a query or fragment, got {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise ValueError(f"url has a bad port: {url!r}") from error
    path_prefix = parts.path.rstrip("/")
    shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path_prefix}"
    return HTTPAddress(parts.scheme, parts.hostname, port, path_prefix, shown)


# ----- connections ----------------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 over the agent's Unix socket."""

    def __init__(self, socket_path: str, reply_timeout: float) -> None:
        super().__init__("localhost", timeout=CONNECT_TIMEOUT)
        self.socket_path = socket_path
        self.reply_timeout = reply_timeout

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect(self.socket_path)
            sock.settimeout(self.reply_timeout)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class _TCPConnection(http.client.HTTPConnection):
    """Connects under the short timeout, then waits as long as a call may take for each reply."""

    def __init__(self, host: str, port: int, reply_timeout: float) -> None:
        super().__init__(host, port, timeout=CONNECT_TIMEOUT)
        self.reply_timeout = reply_timeout

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self.reply_timeout)


# HTTPSConnection is missing when Python was built without ssl; only https clients need it.
_HAS_TLS: Final = hasattr(http.client, "HTTPSConnection")
if _HAS_TLS:
    class _TLSConnection(http.client.HTTPSConnection):
        """_TCPConnection's timeouts, over TLS."""

        def __init__(self, host: str, port: int, reply_timeout: float) -> None:
            super().__init__(host, port, timeout=CONNECT_TIMEOUT)
            self.reply_timeout = reply_timeout

        def connect(self) -> None:
            super().connect()
            self.sock.settimeout(self.reply_timeout)


# ----- calls ----------------------------------------------------------------------


class RemoteInterface:
    """One served interface, as its client module calls it: `call` runs a function there and returns its result.

    Give exactly one address: `socket_path`, the agent's Unix socket, or `url`, its http(s) base URL. `token`
    opens this interface's call endpoint only. Each thread keeps one connection alive (http.client connections
    are not thread-safe), and a forked child opens its own.
    """

    def __init__(self, name: str, *, token: str, socket_path: str | None = None, url: str | None = None,
                 call_timeout: float = 300.0) -> None:
        if (socket_path is None) == (url is None):
            raise ValueError("give exactly one of socket_path and url")
        self.name = name
        self.call_timeout = float(call_timeout)
        self.reply_timeout = self.call_timeout + REPLY_SLACK
        self._token = token
        self._socket_path = socket_path
        self._http = parse_url(url) if url is not None else None
        self.address = f"unix socket {socket_path}" if self._http is None else self._http.shown
        prefix = self._http.path_prefix if self._http is not None else ""
        self._call_path = prefix + "/interfaces/" + quote(name, safe="") + "/call/"
        self._thread_state = threading.local()

    def __repr__(self) -> str:
        return f"<RemoteInterface {self.name!r} at {self.address}>"

    def call(self, function: str, arguments: Sequence[tuple[str, object]]) -> Any:
        """Call the remote `function` with (parameter name, value) pairs and return its decoded result."""
        body = _request_body(function, arguments, self.call_timeout)
        status, data = self._post(self._call_path + quote(function, safe=""), body)
        try:
            reply = json.loads(data, object_hook=_decode_array)
        except ValueError:
            reply = None
        if status == 200 and isinstance(reply, dict) and "ok" in reply:
            if reply["ok"]:
                return reply.get("result")
            raise self._remote_failure(function, reply)
        raise self._refusal(function, status, reply, data)

    # ----- the connection of this thread

    def _new_connection(self) -> http.client.HTTPConnection:
        if self._socket_path is not None:
            return _UnixConnection(self._socket_path, self.reply_timeout)
        assert self._http is not None
        if self._http.scheme == "https":
            if not _HAS_TLS:
                raise InterfaceUnavailable("this Python has no ssl module, needed for " + self.address,
                                           kind=UNAVAILABLE)
            return _TLSConnection(self._http.host, self._http.port, self.reply_timeout)
        return _TCPConnection(self._http.host, self._http.port, self.reply_timeout)

    def _thread_connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection, and whether it has carried a request before."""
        held: tuple[int, http.client.HTTPConnection] | None = getattr(self._thread_state, "held", None)
        # After a fork the child must not share the parent's socket.
        if held is not None and held[0] == os.getpid():
            return held[1], True
        connection = self._new_connection()
        self._thread_state.held = (os.getpid(), connection)
        return connection, False

    def _drop_connection(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        self._thread_state.held = None

    def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST `body` to the agent; returns (status, reply bytes). Retries once on a stale kept-alive connection."""
        headers = {
            "Authorization": "Bearer " + self._token,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        where = f"interface {self.name!r} at {self.address}"
        for attempt in (1, 2):
            connection, reused = self._thread_connection()
            if connection.sock is None:
                try:
                    connection.connect()
                except OSError as error:
                    self._drop_connection(connection)
                    raise InterfaceUnavailable(f"cannot connect to {where}: {error}", kind=UNAVAILABLE) from None
            try:
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                data = response.read()
            except TimeoutError:
                self._drop_connection(connection)
                raise InterfaceTimeout(f"no reply from {where} within {self.reply_timeout:g} s",
                                       kind=CALL_TIMED_OUT) from None
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as error:
                self._drop_connection(connection)
                if reused and attempt == 1:
                    continue  # the agent closed the idle connection before it read this request: send it again
                raise InterfaceUnavailable(f"lost the connection to {where}: {error}", kind=UNAVAILABLE) from None
            except (OSError, http.client.HTTPException) as error:
                self._drop_connection(connection)
                raise InterfaceUnavailable(f"call to {where} failed: {error}", kind=UNAVAILABLE) from None
            if response.will_close:
                self._drop_connection(connection)
            return response.status, data
        raise AssertionError("unreachable")

    # ----- replies that are not a result

    def _remote_failure(self, function: str, reply: dict[str, Any]) -> InterfaceError:
        """The exception for a finished call that did not return (ok=False)."""
        raw_error = reply.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        kind = str(reply.get("kind") or CALL_RAISED)
        ename = str(error.get("ename") or "Exception")
        evalue = str(error.get("evalue") or "")
        remote_traceback = _traceback_text(error.get("traceback") or [])
        error_class: type[InterfaceError] = RemoteFunctionError
        if kind == CALL_TIMED_OUT:
            error_class = InterfaceTimeout
            head = f"{function}() ran past its time limit in interface {self.name!r} and was cancelled"
        elif kind == CALL_RESULT_NOT_JSON:
            head = f"{function}() in interface {self.name!r} returned a value that cannot be sent back as JSON"
        else:
            head = f"{function}() raised {ename} in interface {self.name!r}"
        message = head + ": " + ename + (": " + evalue if evalue else "")
        if remote_traceback:
            message += "\n\nRemote traceback:\n" + remote_traceback
        return error_class(message, kind=kind, remote_traceback=remote_traceback, ename=ename, evalue=evalue)

    def _refusal(self, function: str, status: int, reply: Any, data: bytes) -> InterfaceError:
        """The exception for an error reply: the agent did not run the call."""
        if isinstance(reply, dict) and "message" in reply:
            kind = str(reply.get("error") or f"http_{status}")
            detail = str(reply["message"])
        else:
            kind = f"http_{status}"
            detail = data.decode("utf-8", "replace").strip() or f"HTTP {status}"
        if status == 401:
            message = (f"interface {self.name!r} rejected this client's token (it was probably stopped or served "
                       f"again; get a new client): {detail}")
        elif kind == INTERFACE_DEAD:
            message = f"interface {self.name!r} is dead and must be served again (reloaded): {detail}"
        else:
            message = f"{function}() in interface {self.name!r} was refused ({kind}, HTTP {status}): {detail}"
        return InterfaceError(message, kind=kind, status=status)


# ----- JSON both ways -------------------------------------------------------------


def _to_json(value: object) -> Any:
    """json.dumps' fallback: arrays, tensors and numpy scalars as plain lists and numbers, sets as lists."""
    if isinstance(value, (set, frozenset)):
        return list(value)
    for method in ("tolist", "item"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    kind = type(value)
    name = kind.__qualname__ if kind.__module__ == "builtins" else kind.__module__ + "." + kind.__qualname__
    raise TypeError(name + " is not JSON-serializable")


def _request_body(function: str, arguments: Sequence[tuple[str, object]], call_timeout: float) -> bytes:
    """The call's JSON body; arguments still holding their RemoteDefault are left out."""
    members = []
    for name, value in arguments:
        if isinstance(value, RemoteDefault):
            continue
        try:
            encoded = json.dumps(value, default=_to_json)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{function}(): argument {name!r} cannot be sent to the interface: {error}") from None
        members.append(json.dumps(name) + ": " + encoded)
    body = '{"arguments": {' + ", ".join(members) + '}, "timeout": ' + json.dumps(call_timeout) + "}"
    return body.encode("utf-8")


_numpy_module: list[ModuleType | None] = []  # [numpy or None] once looked up


def _numpy() -> ModuleType | None:
    if not _numpy_module:
        try:
            found: ModuleType | None = importlib.import_module("numpy")
        except ImportError:
            found = None
        _numpy_module.append(found)
    return _numpy_module[0]


def _decode_array(obj: dict[str, Any]) -> Any:
    """json object_hook: an encoded array becomes a numpy array when numpy is installed, else stays a dict."""
    if obj.get("__array__") not in ("numpy", "torch") or "data" not in obj:
        return obj
    numpy = _numpy()
    if numpy is None:
        return obj
    dtype_name = str(obj.get("dtype") or "")
    dtype_name = dtype_name.removeprefix("torch.")
    if dtype_name == "bfloat16":
        dtype_name = "float32"  # numpy has no bfloat16; float32 holds its values exactly
    try:
        dtype = numpy.dtype(dtype_name) if dtype_name else None
    except TypeError:
        dtype = None
    array = numpy.array(obj["data"], dtype=dtype)
    shape = obj.get("shape")
    if shape is not None:
        try:
            array = array.reshape(shape)
        except ValueError:
            pass
    return array


def _traceback_text(lines: Sequence[object]) -> str:
    cleaned = [_ANSI_ESCAPE.sub("", str(line)) for line in lines]
    joiner = "" if all(line.endswith("\n") for line in cleaned) else "\n"
    return joiner.join(cleaned).rstrip()
