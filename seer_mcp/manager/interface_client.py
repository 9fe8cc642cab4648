"""Python source of a client module for a served interface.

A sandbox serves an interface file whose `@expose`d functions can be called
over its agent's `POST /interfaces/{name}/call/{function}`. `client_source`
writes a module that makes those calls look like local functions: one
function per exposed function, with the remote signature written out (so
`help()` and `inspect.signature` show it) and the remote docstring.

The module it writes depends on the standard library only, because it is
imported wherever the caller runs, which may lack httpx, numpy or torch.
Remote annotations and defaults are only ever *text* here: annotations are
written as string literals and defaults that are not JSON literals become
`_RemoteDefault` placeholders, so nothing of the remote side is evaluated.
"""

from __future__ import annotations

import functools
import keyword
import math
import symtable
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from seer_mcp.wire import InterfaceFunction, InterfaceParameter

__all__ = ["client_source"]

# The module's fixed part, after its docstring. Its imports come first; the
# constants `_constants_source` writes go between them and the rest (marked).
# It must run on any Python 3.8+: no match statements, no `X | Y` at runtime.
_IMPORTS = r'''
import http.client as _http_client
import json as _json
import os as _os
import re as _re
import socket as _socket
import threading as _threading
from urllib.parse import quote as _quote
'''

_RUNTIME = r'''
_CONNECT_TIMEOUT = 30.0
# The remote side cancels a call after _CALL_TIMEOUT; the slack covers cancelling it and sending the reply.
_HTTP_TIMEOUT = _CALL_TIMEOUT + 30.0
_CALL_PATH = _PATH_PREFIX + "/interfaces/" + _quote(INTERFACE_NAME, safe="") + "/call/"
_ANSI_ESCAPE = _re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class InterfaceError(Exception):
    """A call to the interface failed.

    `kind` says how (the agent's error kind, or exception / result / timeout / unavailable), `status` is the
    HTTP status when the agent refused the call, and `remote_traceback` is the remote side's traceback, if any.
    """

    def __init__(self, message, *, kind="error", status=None, remote_traceback="", ename="", evalue=""):
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


class _RemoteDefault:
    """A default only the remote side can build: the argument is left out of the call, so that default applies."""

    __slots__ = ("source",)

    def __init__(self, source):
        self.source = source

    def __repr__(self):
        return "<remote default: " + self.source + ">"


class _UnixConnection(_http_client.HTTPConnection):
    """HTTP/1.1 over the agent's Unix socket."""

    def __init__(self, socket_path):
        super().__init__("localhost", timeout=_CONNECT_TIMEOUT)
        self.socket_path = socket_path

    def connect(self):
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.settimeout(_CONNECT_TIMEOUT)
            sock.connect(self.socket_path)
            sock.settimeout(_HTTP_TIMEOUT)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class _ReplyTimeout:
    """Connects under the short timeout, then waits as long as a call may take for each reply."""

    def connect(self):
        super().connect()
        self.sock.settimeout(_HTTP_TIMEOUT)


class _TCPConnection(_ReplyTimeout, _http_client.HTTPConnection):
    pass


# HTTPSConnection is missing when Python was built without ssl; only https clients need it.
if hasattr(_http_client, "HTTPSConnection"):
    class _TLSConnection(_ReplyTimeout, _http_client.HTTPSConnection):
        pass
else:
    _TLSConnection = None

# One kept-alive connection per thread: http.client connections are not thread-safe.
_thread_state = _threading.local()


def _new_connection():
    if _SOCKET_PATH is not None:
        return _UnixConnection(_SOCKET_PATH)
    if _SCHEME == "https":
        if _TLSConnection is None:
            raise InterfaceUnavailable("this Python has no ssl module, needed for " + _ADDRESS, kind="unavailable")
        return _TLSConnection(_HOST, _PORT, timeout=_CONNECT_TIMEOUT)
    return _TCPConnection(_HOST, _PORT, timeout=_CONNECT_TIMEOUT)


def _thread_connection():
    """This thread's connection, and whether it has carried a request before."""
    held = getattr(_thread_state, "held", None)
    # After a fork the child must not share the parent's socket.
    if held is not None and held[0] == _os.getpid():
        return held[1], True
    connection = _new_connection()
    _thread_state.held = (_os.getpid(), connection)
    return connection, False


def _drop_connection(connection):
    connection.close()
    _thread_state.held = None


def _post(path, body):
    """POST `body` to the agent; returns (status, reply bytes). Retries once on a stale kept-alive connection."""
    headers = {
        "Authorization": "Bearer " + _TOKEN,
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    for attempt in (1, 2):
        connection, reused = _thread_connection()
        if connection.sock is None:
            try:
                connection.connect()
            except OSError as error:
                _drop_connection(connection)
                raise InterfaceUnavailable(
                    "cannot connect to interface %r at %s: %s" % (INTERFACE_NAME, _ADDRESS, error), kind="unavailable"
                ) from None
        try:
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            data = response.read()
        except _socket.timeout:
            _drop_connection(connection)
            raise InterfaceTimeout(
                "no reply from interface %r at %s within %g s" % (INTERFACE_NAME, _ADDRESS, _HTTP_TIMEOUT),
                kind="timeout",
            ) from None
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as error:
            _drop_connection(connection)
            if reused and attempt == 1:
                continue  # the agent closed the idle connection before it read this request: send it again
            raise InterfaceUnavailable(
                "lost the connection to interface %r at %s: %s" % (INTERFACE_NAME, _ADDRESS, error), kind="unavailable"
            ) from None
        except (OSError, _http_client.HTTPException) as error:
            _drop_connection(connection)
            raise InterfaceUnavailable(
                "call to interface %r at %s failed: %s" % (INTERFACE_NAME, _ADDRESS, error), kind="unavailable"
            ) from None
        if response.will_close:
            _drop_connection(connection)
        return response.status, data
    raise AssertionError("unreachable")


def _to_json(value):
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


def _request_body(function, arguments):
    """The call's JSON body; arguments still holding their _RemoteDefault are left out."""
    members = []
    for name, value in arguments:
        if isinstance(value, _RemoteDefault):
            continue
        try:
            encoded = _json.dumps(value, default=_to_json)
        except (TypeError, ValueError) as error:
            raise TypeError("%s(): argument %r cannot be sent to the interface: %s" % (function, name, error)) from None
        members.append(_json.dumps(name) + ": " + encoded)
    body = '{"arguments": {' + ", ".join(members) + '}, "timeout": ' + _json.dumps(_CALL_TIMEOUT) + "}"
    return body.encode("utf-8")


_numpy_module = []  # [numpy or None] once looked up


def _numpy():
    if not _numpy_module:
        try:
            import numpy
        except ImportError:
            numpy = None
        _numpy_module.append(numpy)
    return _numpy_module[0]


def _decode_array(obj):
    """json object_hook: an encoded array becomes a numpy array when numpy is installed, else stays a dict."""
    if obj.get("__array__") not in ("numpy", "torch") or "data" not in obj:
        return obj
    numpy = _numpy()
    if numpy is None:
        return obj
    dtype_name = str(obj.get("dtype") or "")
    if dtype_name.startswith("torch."):
        dtype_name = dtype_name[len("torch."):]
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


def _traceback_text(lines):
    lines = [_ANSI_ESCAPE.sub("", str(line)) for line in lines]
    joiner = "" if all(line.endswith("\n") for line in lines) else "\n"
    return joiner.join(lines).rstrip()


def _remote_failure(function, reply):
    """The exception for a finished call that did not return (ok=False)."""
    error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
    kind = reply.get("kind") or "exception"
    ename = str(error.get("ename") or "Exception")
    evalue = str(error.get("evalue") or "")
    remote_traceback = _traceback_text(error.get("traceback") or [])
    if kind == "timeout":
        error_class = InterfaceTimeout
        head = "%s() ran past its time limit in interface %r and was cancelled" % (function, INTERFACE_NAME)
    elif kind == "result":
        error_class = RemoteFunctionError
        head = "%s() in interface %r returned a value that cannot be sent back as JSON" % (function, INTERFACE_NAME)
    else:
        error_class = RemoteFunctionError
        head = "%s() raised %s in interface %r" % (function, ename, INTERFACE_NAME)
    message = head + ": " + ename + (": " + evalue if evalue else "")
    if remote_traceback:
        message += "\n\nRemote traceback:\n" + remote_traceback
    return error_class(message, kind=kind, remote_traceback=remote_traceback, ename=ename, evalue=evalue)


def _refusal(function, status, reply, data):
    """The exception for an error reply: the agent did not run the call."""
    if isinstance(reply, dict) and "message" in reply:
        kind = str(reply.get("error") or "http_%d" % status)
        detail = str(reply["message"])
    else:
        kind = "http_%d" % status
        detail = data.decode("utf-8", "replace").strip() or "HTTP %d" % status
    if status == 401:
        message = (
            "interface %r rejected this client's token (it was probably stopped or served again; "
            "get a new client): %s" % (INTERFACE_NAME, detail)
        )
    elif kind == "interface_dead":
        message = "interface %r is dead and must be served again (reloaded): %s" % (INTERFACE_NAME, detail)
    else:
        message = "%s() in interface %r was refused (%s, HTTP %d): %s" % (
            function, INTERFACE_NAME, kind, status, detail
        )
    return InterfaceError(message, kind=kind, status=status)


def _call_remote(function, arguments):
    """Call the remote `function` with (parameter name, value) pairs and return its decoded result."""
    body = _request_body(function, arguments)
    status, data = _post(_CALL_PATH + _quote(function, safe=""), body)
    try:
        reply = _json.loads(data, object_hook=_decode_array)
    except ValueError:
        reply = None
    if status == 200 and isinstance(reply, dict) and "ok" in reply:
        if reply["ok"]:
            return reply.get("result")
        raise _remote_failure(function, reply)
    raise _refusal(function, status, reply, data)
'''

_CONSTANTS_MARK = "# ----- connection settings"
_FUNCTIONS_MARK = "# ----- the interface's functions"

# Parameter kinds in the order Python requires them.
_KIND_ORDER = {"positional_only": 0, "positional_or_keyword": 1, "var_positional": 2, "keyword_only": 3,
               "var_keyword": 4}


def client_source(name: str, functions: list[InterfaceFunction], *, token: str, socket_path: str | None = None,
                  url: str | None = None, call_timeout: float = 300.0, description: str = "") -> str:
    """Python source of a module `name` whose functions call the interface remotely.

    Give exactly one address: `socket_path`, the agent's Unix socket, or `url`, its http(s) base URL (a path
    prefix is kept). `token` authorizes calls to this interface only and is kept in the module as a private
    constant. Raises ValueError for a name Python cannot use or a signature it cannot express.
    """
    _check_identifier(name, "interface name")
    if (socket_path is None) == (url is None):
        raise ValueError("give exactly one of socket_path and url")
    if not (isinstance(call_timeout, (int, float)) and math.isfinite(call_timeout) and call_timeout > 0):
        raise ValueError(f"call_timeout must be a positive number of seconds, got {call_timeout!r}")

    taken = _runtime_names()
    defined: set[str] = set()
    function_sources: list[str] = []
    for function in functions:
        _check_identifier(function.name, "function name")
        if function.name in defined:
            raise ValueError(f"two functions are named {function.name!r}")
        if function.name in taken or (function.name.startswith("__") and function.name.endswith("__")):
            raise ValueError(f"function name {function.name!r} collides with a name the client module uses")
        defined.add(function.name)
        function_sources.append(_function_source(name, function))

    parts = [
        repr(_module_doc(name, functions, description)),
        f"# Generated by seer_mcp.manager.interface_client for the interface {name}; serving it again makes a new one.",
        _IMPORTS.strip(),
        _CONSTANTS_MARK,
        _constants_source(name, token=token, socket_path=socket_path, url=url, call_timeout=call_timeout),
        _RUNTIME.strip(),
        _FUNCTIONS_MARK,
        *function_sources,
        f"__all__ = {[function.name for function in functions]!r}",
    ]
    source = "\n\n\n".join(part.strip() for part in parts) + "\n"
    try:
        compile(source, f"<interface client {name}>", "exec")
    except SyntaxError as error:  # a bug here rather than in the input: every piece was checked on its own
        raise ValueError(f"the client module for interface {name!r} does not compile: {error}") from error
    return source


def _check_identifier(name: str, what: str) -> None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"{what} {name!r} is not a valid Python identifier")
    # Python folds identifiers to NFKC, so another spelling would define a different name than the remote one.
    if unicodedata.normalize("NFKC", name) != name:
        raise ValueError(f"{what} {name!r} is not in the normal form Python gives identifiers")


def _constants_source(name: str, *, token: str, socket_path: str | None, url: str | None,
                      call_timeout: float) -> str:
    scheme = host = None
    port: int | None = None
    path_prefix = ""
    if socket_path is not None:
        address = f"unix socket {socket_path}"
    else:
        assert url is not None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be an http:// or https:// URL with a host, got {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"url must not have a query or fragment, got {url!r}")
        scheme, host = parts.scheme, parts.hostname
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as error:
            raise ValueError(f"url has a bad port: {url!r}") from error
        path_prefix = parts.path.rstrip("/")
        address = f"{scheme}://{parts.netloc.rpartition('@')[2]}{path_prefix}"
    lines = [
        f"INTERFACE_NAME = {name!r}",
        f"_TOKEN = {token!r}  # scoped to calling this interface; sent as a bearer token",
        f"_SOCKET_PATH = {socket_path!r}",
        f"_SCHEME = {scheme!r}",
        f"_HOST = {host!r}",
        f"_PORT = {port!r}",
        f"_PATH_PREFIX = {path_prefix!r}",
        f"_ADDRESS = {address!r}  # for error messages",
        f"_CALL_TIMEOUT = {float(call_timeout)!r}",
    ]
    return "\n".join(lines)


@functools.cache
def _runtime_names() -> frozenset[str]:
    """Every module-level name the fixed part binds or reads, builtins included: an exposed function may not
    shadow one, or the helpers calling it would break."""
    constants = _constants_source("x", token="", socket_path="/", url=None, call_timeout=1.0)
    source = f"{_IMPORTS}\n{constants}\n{_RUNTIME}"
    names: set[str] = set()

    def collect(table: symtable.SymbolTable) -> None:
        for symbol in table.get_symbols():
            if table.get_type() == "module" or symbol.is_global():
                names.add(symbol.get_name())
        for child in table.get_children():
            collect(child)

    collect(symtable.symtable(source, "<interface client>", "exec"))
    # The generated bodies call _call_remote and defaults build _RemoteDefault; both are bound above.
    return frozenset(names | {"__all__"})


def _module_doc(name: str, functions: list[InterfaceFunction], description: str) -> str:
    lines = [f"Client for the interface `{name}`: its functions run in the sandbox, not here."]
    if description.strip():
        lines += ["", description.strip()]
    lines += ["", "Functions:"]
    for function in functions:
        lines.append(f"    {function.name}{function.signature}")
        summary = function.doc.strip().splitlines()[0] if function.doc.strip() else ""
        if summary:
            lines.append(f"        {summary}")
    if not functions:
        lines.append("    (none)")
    lines += [
        "",
        "Arguments travel as JSON (numpy arrays and torch tensors as nested lists); results come back as JSON, with",
        "arrays as numpy arrays when numpy is installed here. Failures raise InterfaceError: RemoteFunctionError when",
        "the function raised, InterfaceTimeout when it ran too long, InterfaceUnavailable when the sandbox cannot be",
        "reached.",
    ]
    return "\n".join(lines)


def _function_source(interface: str, function: InterfaceFunction) -> str:
    """`def name(<remote signature>): <docstring>; return _call_remote(...)`."""
    parameters = function.parameters
    _check_parameters(function)
    rendered: list[str] = []
    for index, parameter in enumerate(parameters):
        previous_kind = parameters[index - 1].kind if index else None
        if parameter.kind == "keyword_only" and previous_kind not in ("keyword_only", "var_positional"):
            rendered.append("*")  # keyword-only parameters without a *args
        rendered.append(_parameter_source(parameter))
        following_kind = parameters[index + 1].kind if index + 1 < len(parameters) else None
        if parameter.kind == "positional_only" and following_kind != "positional_only":
            rendered.append("/")
    returns = f" -> {function.returns!r}" if function.returns else ""
    doc = function.doc.strip()
    note = f"Runs remotely: calls `{function.name}` of the interface `{interface}` in the sandbox."
    docstring = f"{doc}\n\n{note}" if doc else note
    pairs = ", ".join(f"({parameter.name!r}, {parameter.name})" for parameter in parameters)
    source = (
        f"def {function.name}({', '.join(rendered)}){returns}:\n"
        f"    {docstring!r}\n"
        f"    return _call_remote({function.name!r}, [{pairs}])\n"
    )
    try:
        compile(source, f"<interface function {function.name}>", "exec")
    except SyntaxError as error:
        raise ValueError(f"function {function.name!r} has a signature Python cannot express: {error.msg}") from error
    return source


def _check_parameters(function: InterfaceFunction) -> None:
    seen: set[str] = set()
    last_rank = -1
    for parameter in function.parameters:
        _check_identifier(parameter.name, f"parameter name of {function.name}()")
        if parameter.name in seen:
            raise ValueError(f"function {function.name!r} has two parameters named {parameter.name!r}")
        # The body calls _call_remote; a parameter of that name would hide it.
        if parameter.name == "_call_remote":
            raise ValueError(f"parameter name {parameter.name!r} of {function.name}() collides with the client's own")
        seen.add(parameter.name)
        rank = _KIND_ORDER[parameter.kind]
        repeatable = parameter.kind not in ("var_positional", "var_keyword")
        if rank < last_rank or (rank == last_rank and not repeatable):
            raise ValueError(f"function {function.name!r} has its parameters in an order Python does not allow")
        last_rank = rank


def _parameter_source(parameter: InterfaceParameter) -> str:
    stars = {"var_positional": "*", "var_keyword": "**"}.get(parameter.kind, "")
    text = stars + parameter.name
    if parameter.annotation is not None:
        text += f": {parameter.annotation!r}"  # a string literal: the annotation is never evaluated here
    if parameter.has_default and not stars:
        literal = _literal_source(parameter.default) if parameter.default_is_literal else None
        if literal is None:
            literal = f"_RemoteDefault({(parameter.default_repr or '...')!r})"
        text += (" = " if parameter.annotation is not None else "=") + literal
    return text


def _literal_source(value: Any) -> str | None:
    """Python source for a JSON value, or None when it is not one."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"  # nan and inf have no literal
    if isinstance(value, list):
        items = [_literal_source(item) for item in value]
        return None if None in items else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return None
        members = {key: _literal_source(item) for key, item in value.items()}
        if None in members.values():
            return None
        return "{" + ", ".join(f"{key!r}: {item}" for key, item in members.items()) + "}"
    return None
