"""The generated interface client against a real HTTP/1.1 stand-in for the sandbox agent.

The stand-in listens on a Unix socket and on TCP, checks the bearer token and
echoes back the JSON it received, so tests see exactly which `arguments` the
client sent; it can also answer with canned replies (failed calls, refusals,
encoded arrays) and drop its idle keep-alive connections.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import inspect
import json
import pydoc
import re
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from seer_mcp.manager.interface_client import RUNTIME_FILE, client_files, client_source, runtime_source
from seer_mcp.manager.interface_runtime import RUNTIME_MODULE
from seer_mcp.wire import InterfaceFunction, InterfaceParameter

TOKEN = "token-for-probe"
CALL_PATH = re.compile(r"(?P<prefix>.*)/interfaces/(?P<interface>[^/]+)/call/(?P<function>[^/]+)")

# A docstring that breaks naive quoting: triple quotes of both kinds, backslashes, an escape-like sequence.
TRICKY_DOC = 'Generate from a prompt.\n\nQuotes """like this""" and \'\'\'this\'\'\', a backslash \\ and C:\\new\\table.'


def literal(value: Any) -> dict[str, Any]:
    return {"has_default": True, "default_is_literal": True, "default": value, "default_repr": repr(value)}


def remote(default_repr: str) -> dict[str, Any]:
    return {"has_default": True, "default_is_literal": False, "default_repr": default_repr}


def param(name: str, kind: str = "positional_or_keyword", annotation: str | None = None,
          **default: Any) -> InterfaceParameter:
    return InterfaceParameter(name=name, kind=kind, annotation=annotation, **default)


def function(name: str, signature: str, parameters: list[InterfaceParameter], returns: str | None = None,
             doc: str = "") -> InterfaceFunction:
    return InterfaceFunction(name=name, doc=doc, signature=signature, parameters=parameters, returns=returns,
                             input_schema={"type": "object"})


FUNCTIONS = [
    function(
        "generate",
        "(prompt: torch.Tensor, /, layer: int = 3, *rest: float, scale: SomeUnknownClass = torch.zeros(3), "
        "note: Optional[str] = None, strict: bool = True, **options: Any) -> dict",
        [
            param("prompt", "positional_only", "torch.Tensor"),
            param("layer", annotation="int", **literal(3)),
            param("rest", "var_positional", "float"),
            param("scale", "keyword_only", "SomeUnknownClass", **remote("torch.zeros(3)")),
            param("note", "keyword_only", "Optional[str]", **literal(None)),
            param("strict", "keyword_only", "bool", **literal(True)),
            param("options", "var_keyword", "Any"),
        ],
        returns="dict",
        doc=TRICKY_DOC,
    ),
    function(
        "configure",
        "(*, name: str, mode: str = 'fast \"x\"', weights: list[float] = [0.5, 1.0], limit=inf) -> None",
        [
            param("name", "keyword_only", "str"),
            param("mode", "keyword_only", "str", **literal('fast "x"')),
            param("weights", "keyword_only", "list[float]", **literal([0.5, 1.0])),
            param("limit", "keyword_only", **literal(float("inf"))),
        ],
        returns="None",
        doc="Set options.",
    ),
    function("activations", "(layer: int) -> torch.Tensor", [param("layer", annotation="int")],
             returns="torch.Tensor"),
    function("ping", "()", []),
]


# ----- the stand-in agent ------------------------------------------------------


@dataclass
class SeenRequest:
    connection: int  # which TCP/Unix connection carried it, numbered from 1
    path: str
    authorization: str | None
    body: dict[str, Any]


class FakeAgent:
    """What both servers share: the requests seen, canned replies and the open connections."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.seen: list[SeenRequest] = []
        self.replies: dict[str, tuple[int, Any]] = {}  # function name -> (status, JSON body)
        self.socket_path = ""
        self.url = ""
        self._lock = threading.Lock()
        self._open: dict[int, socket.socket] = {}
        self._closed: dict[int, threading.Event] = {}

    def opened(self, connection: socket.socket) -> int:
        with self._lock:
            number = len(self._closed) + 1
            self._open[number] = connection
            self._closed[number] = threading.Event()
        return number

    def closed(self, number: int) -> None:
        with self._lock:
            self._open.pop(number, None)
        self._closed[number].set()

    def close_idle_connections(self) -> None:
        """Close every open connection from the server side, as an agent does with idle keep-alive ones."""
        with self._lock:
            open_now = dict(self._open)
        for connection in open_now.values():
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for number in open_now:
            assert self._closed[number].wait(5)

    def answer(self, connection: int, path: str, authorization: str | None, raw: bytes) -> tuple[int, Any]:
        body = json.loads(raw)
        self.seen.append(SeenRequest(connection, path, authorization, body))
        if authorization != f"Bearer {self.token}":
            return 401, {"error": "unauthorized", "message": "invalid or missing token"}
        match = CALL_PATH.fullmatch(path)
        if match is None:
            return 404, {"error": "not_found", "message": f"no route {path}"}
        name = match["function"]
        if name in self.replies:
            return self.replies[name]
        result = {"function": name, "arguments": body["arguments"], "timeout": body["timeout"]}
        return 200, {"ok": True, "result": result, "kind": None, "error": None, "duration": 0.001}


class AgentHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real agent
    timeout = 10  # a forgotten connection ends instead of holding its thread

    def setup(self) -> None:
        super().setup()
        self.number = self.server.agent.opened(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.agent.closed(self.number)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet, and address_string() fails on Unix sockets

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, payload = self.server.agent.answer(  # type: ignore[attr-defined]
            self.number, self.path, self.headers.get("Authorization"), raw)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class UnixAgentServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False


class TCPAgentServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[FakeAgent]:
    fake = FakeAgent(TOKEN)
    # AF_UNIX paths are limited to about 100 bytes; a long test name can push tmp_path past that.
    short_dir = None if len(str(tmp_path)) < 80 else Path(tempfile.mkdtemp(prefix="seer-ic-"))
    fake.socket_path = str((short_dir or tmp_path) / "agent.sock")
    servers: list[socketserver.BaseServer] = [UnixAgentServer(fake.socket_path, AgentHandler),
                                              TCPAgentServer(("127.0.0.1", 0), AgentHandler)]
    fake.url = f"http://127.0.0.1:{servers[1].server_address[1]}"  # type: ignore[attr-defined]
    for server in servers:
        server.agent = fake  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield fake
    for server in servers:
        server.shutdown()
        server.server_close()
    fake.close_idle_connections()
    if short_dir is not None:
        shutil.rmtree(short_dir, ignore_errors=True)


@pytest.fixture
def load_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ModuleType]]:
    """Write a client to tmp_path/<name>.py, the runtime beside it, and import the client by path without
    registering it in sys.modules (the runtime it loads is, as import would; each test gets a fresh one)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # a rewritten file must not meet a stale .pyc
    sys.modules.pop(RUNTIME_MODULE, None)

    def load(source: str, name: str = "probe") -> ModuleType:
        (tmp_path / RUNTIME_FILE).write_bytes(runtime_source())
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield load
    sys.modules.pop(RUNTIME_MODULE, None)


def probe_source(agent: FakeAgent | None = None, transport: str = "unix", **overrides: Any) -> str:
    if "socket_path" in overrides or "url" in overrides:
        address: dict[str, Any] = {}
    elif agent is None:
        address = {"socket_path": "/nonexistent/agent.sock"}
    elif transport == "unix":
        address = {"socket_path": agent.socket_path}
    else:
        address = {"url": agent.url}
    arguments: dict[str, Any] = {"token": TOKEN, "description": "Probes a model.", **address, **overrides}
    return client_source("probe", FUNCTIONS, **arguments)


# ----- the module's shape ------------------------------------------------------


def test_signatures_are_written_out(load_client: Callable[..., ModuleType]) -> None:
    probe = load_client(probe_source())
    assert str(inspect.signature(probe.generate)) == (
        "(prompt: 'torch.Tensor', /, layer: 'int' = 3, *rest: 'float', "
        "scale: 'SomeUnknownClass' = <remote default: torch.zeros(3)>, note: 'Optional[str]' = None, "
        "strict: 'bool' = True, **options: 'Any') -> 'dict'"
    )
    assert str(inspect.signature(probe.configure)) == (
        "(*, name: 'str', mode: 'str' = 'fast \"x\"', weights: 'list[float]' = [0.5, 1.0], limit=inf) -> 'None'"
    )
    assert str(inspect.signature(probe.ping)) == "()"
    assert probe.__all__ == ["generate", "configure", "activations", "ping"]
    assert probe.INTERFACE_NAME == "probe"
    assert "Probes a model." in probe.__doc__
    assert "    activations(layer: int) -> torch.Tensor" in probe.__doc__
    assert "        Generate from a prompt." in probe.__doc__
    # The token stays a private constant, out of anything a reader is shown.
    assert probe._TOKEN == TOKEN
    assert TOKEN not in probe.__doc__ and TOKEN not in pydoc.render_doc(probe, renderer=pydoc.plaintext)


def test_the_client_holds_its_settings_and_functions_and_the_runtime_the_rest() -> None:
    tree = ast.parse(probe_source())
    assert not [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef))]
    assert [node.name for node in tree.body if isinstance(node, ast.FunctionDef)] == [
        "_load_runtime", "generate", "configure", "activations", "ping"]
    assert [target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets] == [
        "_runtime", "InterfaceError", "RemoteFunctionError", "InterfaceTimeout", "InterfaceUnavailable",
        "_RemoteDefault", "INTERFACE_NAME", "_TOKEN", "_SOCKET_PATH", "_URL", "_CALL_TIMEOUT", "_interface",
        "_call_remote", "__all__"]


def test_a_url_is_kept_without_its_user_info(load_client: Callable[..., ModuleType]) -> None:
    probe = load_client(probe_source(url="https://user:secret@agent.example:8443/base/"))
    assert probe._URL == "https://agent.example:8443/base"
    assert probe._interface.address == "https://agent.example:8443/base"


def test_help_shows_the_remote_docstring(load_client: Callable[..., ModuleType]) -> None:
    probe = load_client(probe_source())
    assert inspect.getdoc(probe.generate) == (
        TRICKY_DOC + "\n\nRuns remotely: calls `generate` of the interface `probe` in the sandbox."
    )
    shown = pydoc.render_doc(probe.generate, renderer=pydoc.plaintext)
    assert "generate(prompt: 'torch.Tensor', /, layer: 'int' = 3, *rest: 'float'" in shown
    assert 'Quotes """like this""" and \'\'\'this\'\'\', a backslash \\ and C:\\new\\table.' in shown
    assert inspect.getdoc(probe.ping) == "Runs remotely: calls `ping` of the interface `probe` in the sandbox."


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        ("class", []),  # a keyword
        ("not-a-name", []),
        ("_call_remote", []),  # the module's own helpers and the builtins they use
        ("InterfaceError", []),
        ("float", []),  # nan and inf defaults are written float("nan")
        ("ModuleNotFoundError", []),
        ("__all__", []),
        ("fine", [param("_call_remote")]),  # would hide the helper inside the body
        ("fine", [param("lambda")]),
        ("fine", [param("a"), param("a", "keyword_only")]),
        ("fine", [param("a", "keyword_only"), param("b")]),  # kinds out of order
        ("fine", [param("a", **literal(1)), param("b")]),  # a required parameter after a default
    ],
)
def test_rejects_what_python_cannot_define(name: str, parameters: list[InterfaceParameter]) -> None:
    with pytest.raises(ValueError):
        client_source("probe", [function(name, "()", parameters)], token=TOKEN, socket_path="/x.sock")


def test_rejects_bad_names_and_addresses() -> None:
    ping = FUNCTIONS[-1]
    with pytest.raises(ValueError, match="two functions"):
        client_source("probe", [ping, ping], token=TOKEN, socket_path="/x.sock")
    with pytest.raises(ValueError, match="identifier"):
        client_source("my-probe", [ping], token=TOKEN, socket_path="/x.sock")
    with pytest.raises(ValueError, match="exactly one"):
        client_source("probe", [ping], token=TOKEN)
    with pytest.raises(ValueError, match="exactly one"):
        client_source("probe", [ping], token=TOKEN, socket_path="/x.sock", url="http://h")
    with pytest.raises(ValueError, match="http"):
        client_source("probe", [ping], token=TOKEN, url="ftp://h/")


# ----- calls -------------------------------------------------------------------


def test_arguments_are_sent_by_name(agent: FakeAgent, load_client: Callable[..., ModuleType]) -> None:
    probe = load_client(probe_source(agent, call_timeout=42.0))
    reply = probe.generate([1, 2], 5, 0.25, 0.5, note="n", top_k=4)
    # prompt is positional-only yet sent by name; scale's remote default is left out so the remote applies it.
    assert reply["arguments"] == {"prompt": [1, 2], "layer": 5, "rest": [0.25, 0.5], "note": "n", "strict": True,
                                  "options": {"top_k": 4}}
    assert reply["timeout"] == 42.0
    assert agent.seen[-1].path == "/interfaces/probe/call/generate"
    assert agent.seen[-1].authorization == f"Bearer {TOKEN}"

    reply = probe.generate("p", scale=[0.0, 0.0, 0.0])
    assert reply["arguments"] == {"prompt": "p", "layer": 3, "rest": [], "scale": [0.0, 0.0, 0.0], "note": None,
                                  "strict": True, "options": {}}


def test_url_with_a_path_prefix(agent: FakeAgent, load_client: Callable[..., ModuleType]) -> None:
    probe = load_client(probe_source(agent, url=agent.url + "/agent/"))
    reply = probe.configure(name="x")
    assert reply["arguments"] == {"name": "x", "mode": 'fast "x"', "weights": [0.5, 1.0], "limit": float("inf")}
    assert agent.seen[-1].path == "/agent/interfaces/probe/call/configure"
    with pytest.raises(TypeError):
        probe.configure("x")  # keyword-only, checked here by Python before any request
    assert len(agent.seen) == 1


def test_arrays_travel_as_lists_and_come_back_as_numpy(agent: FakeAgent,
                                                       load_client: Callable[..., ModuleType]) -> None:
    class TensorLike:
        def tolist(self) -> list[float]:
            return [1.0, 2.0]

    probe = load_client(probe_source(agent))
    matrix = np.arange(6, dtype=np.float32).reshape(2, 3)
    reply = probe.generate(matrix, np.int64(7), matrix[0, 1], tensor=TensorLike(), pair=(1, 2), members={3},
                           nested=[{"m": np.eye(2, dtype=np.int32)}])
    assert reply["arguments"] == {
        "prompt": [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], "layer": 7, "rest": [1.0], "note": None, "strict": True,
        "options": {"tensor": [1.0, 2.0], "pair": [1, 2], "members": [3], "nested": [{"m": [[1, 0], [0, 1]]}]},
    }

    encoded = {"__array__": "torch", "dtype": "float32", "shape": [2, 3], "data": [[0, 1, 2], [3, 4, 5]]}
    empty = {"__array__": "numpy", "dtype": "int64", "shape": [0, 2], "data": []}
    agent.replies["activations"] = (200, {"ok": True, "result": {"hidden": [encoded], "empty": empty,
                                                                 "other": {"__array__": "mine"}}})
    result = probe.activations(2)
    hidden = result["hidden"][0]
    assert isinstance(hidden, np.ndarray) and hidden.dtype == np.float32 and hidden.shape == (2, 3)
    np.testing.assert_array_equal(hidden, matrix)
    assert result["empty"].shape == (0, 2) and result["empty"].dtype == np.int64
    assert result["other"] == {"__array__": "mine"}  # not an encoded array: left alone


def test_unserializable_argument_fails_before_sending(agent: FakeAgent,
                                                      load_client: Callable[..., ModuleType]) -> None:
    probe = load_client(probe_source(agent))
    with pytest.raises(TypeError, match=r"argument 'prompt'.*object is not JSON-serializable"):
        probe.generate(object())
    with pytest.raises(TypeError, match=r"argument 'options'.*pathlib\.\w*Path is not JSON-serializable"):
        probe.generate("p", where=Path("x"))
    assert agent.seen == []


# ----- failures ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error_class", "phrase"),
    [
        ("exception", "RemoteFunctionError", "ping() raised ValueError in interface 'probe': ValueError: bad layer"),
        ("result", "RemoteFunctionError", "returned a value that cannot be sent back as JSON: ValueError: bad layer"),
        ("timeout", "InterfaceTimeout", "ran past its time limit in interface 'probe' and was cancelled"),
    ],
    ids=["exception", "result", "timeout"],
)
def test_failed_calls_raise_with_the_remote_traceback(agent: FakeAgent, load_client: Callable[..., ModuleType],
                                                      kind: str, error_class: str, phrase: str) -> None:
    probe = load_client(probe_source(agent))
    traceback = ["Traceback (most recent call last):\n", '  File "probe_iface.py", line 9, in ping\n',
                 "\x1b[0;31mValueError\x1b[0m: bad layer\n"]
    agent.replies["ping"] = (200, {"ok": False, "kind": kind, "duration": 0.1,
                                   "error": {"ename": "ValueError", "evalue": "bad layer", "traceback": traceback}})
    with pytest.raises(getattr(probe, error_class)) as caught:
        probe.ping()
    error = caught.value
    assert isinstance(error, probe.InterfaceError)
    assert error.kind == kind and error.ename == "ValueError" and error.evalue == "bad layer"
    assert phrase in str(error)
    assert error.remote_traceback == ('Traceback (most recent call last):\n  File "probe_iface.py", line 9, in ping\n'
                                      "ValueError: bad layer")
    assert "Remote traceback:\n" + error.remote_traceback in str(error)


@pytest.mark.parametrize(
    ("status", "kind", "phrase"),
    [
        (404, "not_found", "ping() in interface 'probe' was refused (not_found, HTTP 404): no function 'ping'"),
        (422, "bad_request", "was refused (bad_request, HTTP 422): no function 'ping'"),
        (409, "interface_dead", "interface 'probe' is dead and must be served again"),
        (500, "internal", "was refused (internal, HTTP 500)"),
    ],
    ids=["not_found", "bad_request", "interface_dead", "internal"],
)
def test_refusals_raise_interface_error(agent: FakeAgent, load_client: Callable[..., ModuleType], status: int,
                                        kind: str, phrase: str) -> None:
    probe = load_client(probe_source(agent))
    agent.replies["ping"] = (status, {"error": kind, "message": "no function 'ping'"})
    with pytest.raises(probe.InterfaceError) as caught:
        probe.ping()
    assert type(caught.value) is probe.InterfaceError
    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert phrase in str(caught.value) and "no function 'ping'" in str(caught.value)


def test_a_rejected_token_says_so(agent: FakeAgent, load_client: Callable[..., ModuleType]) -> None:
    probe = load_client(probe_source(agent, token="token-of-a-stopped-interface"))
    with pytest.raises(probe.InterfaceError, match="rejected this client's token") as caught:
        probe.ping()
    assert caught.value.status == 401
    assert agent.seen[-1].authorization == "Bearer token-of-a-stopped-interface"


def test_unreachable_agent_names_the_address(tmp_path: Path, load_client: Callable[..., ModuleType]) -> None:
    missing_socket = str(tmp_path / "gone.sock")
    probe = load_client(probe_source(socket_path=missing_socket))
    with pytest.raises(probe.InterfaceUnavailable, match=f"unix socket {re.escape(missing_socket)}") as caught:
        probe.ping()
    assert caught.value.kind == "unavailable"

    with socket.socket() as placeholder:  # a port nobody listens on once it is closed
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    probe = load_client(probe_source(url=f"http://127.0.0.1:{port}/base"), name="probe_tcp")
    with pytest.raises(probe.InterfaceUnavailable, match=f"http://127.0.0.1:{port}/base"):
        probe.ping()


# ----- connections -------------------------------------------------------------


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_calls_share_one_kept_alive_connection(agent: FakeAgent, load_client: Callable[..., ModuleType],
                                               transport: str) -> None:
    probe = load_client(probe_source(agent, transport))
    for layer in range(3):
        probe.activations(layer)
    assert [seen.body["arguments"] for seen in agent.seen] == [{"layer": 0}, {"layer": 1}, {"layer": 2}]
    assert len({seen.connection for seen in agent.seen}) == 1


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_reconnects_after_the_agent_closes_an_idle_connection(agent: FakeAgent,
                                                              load_client: Callable[..., ModuleType],
                                                              transport: str) -> None:
    probe = load_client(probe_source(agent, transport))
    probe.activations(0)
    agent.close_idle_connections()
    dropped = []
    keep_dropping = probe._interface._drop_connection
    probe._interface._drop_connection = lambda connection: (dropped.append(connection), keep_dropping(connection))
    assert probe.activations(1)["arguments"] == {"layer": 1}
    assert len(dropped) == 1  # the stale connection, found out by the first try
    first, second = agent.seen  # the stale connection never delivered the retried request
    assert first.connection != second.connection


def test_each_thread_has_its_own_connection(agent: FakeAgent, load_client: Callable[..., ModuleType]) -> None:
    probe = load_client(probe_source(agent))
    probe.ping()

    def call_twice() -> None:
        probe.ping()
        probe.ping()

    worker = threading.Thread(target=call_twice)
    worker.start()
    worker.join(10)
    main_thread, *others = [seen.connection for seen in agent.seen]
    assert others[0] == others[1] != main_thread


def test_clients_loaded_by_path_share_the_runtime_beside_them(tmp_path: Path,
                                                              load_client: Callable[..., ModuleType]) -> None:
    probe = load_client(probe_source())
    other = load_client(probe_source(), name="other")
    assert probe.InterfaceError is other.InterfaceError and probe._interface is not other._interface
    assert Path(sys.modules[RUNTIME_MODULE].__file__) == tmp_path / RUNTIME_FILE


def test_a_client_without_its_runtime_says_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, RUNTIME_MODULE, raising=False)
    (tmp_path / "probe.py").write_text(probe_source())
    spec = importlib.util.spec_from_file_location("probe", tmp_path / "probe.py")
    assert spec is not None and spec.loader is not None
    with pytest.raises(ImportError, match=f"probe needs {re.escape(str(tmp_path / RUNTIME_FILE))} beside it"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert RUNTIME_MODULE not in sys.modules


def test_clients_of_several_interfaces_share_one_runtime_in_a_kernels_folder(agent: FakeAgent,
                                                                             tmp_path: Path) -> None:
    """As a kernel imports them from its libraries folder: by name, that folder the only one not the stdlib's."""
    folder = tmp_path / "libraries"
    folder.mkdir()
    for name in ("alpha", "beta"):
        for filename, data in client_files(name, FUNCTIONS, token=TOKEN, socket_path=agent.socket_path).items():
            (folder / filename).write_bytes(data)  # the runtime is written twice, the same bytes both times
    assert sorted(path.name for path in folder.iterdir()) == sorted([RUNTIME_FILE, "alpha.py", "beta.py"])
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(folder)!r})\n"
        f"import alpha, beta, {RUNTIME_MODULE} as runtime\n"
        "print(json.dumps({'calls': [alpha.activations(1)['arguments'], beta.ping()['function']],\n"
        "    'shared': alpha.InterfaceError is beta.InterfaceError is runtime.InterfaceError,\n"
        "    'runtime': runtime.__file__,\n"
        "    'third_party': [m for m in ('numpy', 'httpx', 'pydantic', 'seer_mcp') if m in sys.modules]}))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == {"calls": [{"layer": 1}, "ping"], "shared": True, "runtime": str(folder / RUNTIME_FILE),
                      "third_party": []}
    assert [seen.path for seen in agent.seen] == ["/interfaces/alpha/call/activations", "/interfaces/beta/call/ping"]


def test_imports_and_calls_with_the_standard_library_only(agent: FakeAgent, tmp_path: Path) -> None:
    """-I -S: no site-packages, so no numpy, httpx or seer_mcp; arrays then come back as their dicts."""
    client_dir = tmp_path / "isolated"
    client_dir.mkdir()
    for filename, data in client_files("probe", FUNCTIONS, token=TOKEN, socket_path=agent.socket_path).items():
        (client_dir / filename).write_bytes(data)
    agent.replies["activations"] = (200, {"ok": True, "result": {"__array__": "numpy", "dtype": "float32",
                                                                  "shape": [1], "data": [0.5]}})
    script = (
        "import inspect, json, sys\n"
        f"sys.path.insert(0, {str(client_dir)!r})\n"
        "import probe\n"
        "print(json.dumps({'result': probe.activations(1), 'signature': str(inspect.signature(probe.generate)),\n"
        "    'third_party': [m for m in ('numpy', 'httpx', 'pydantic', 'seer_mcp') if m in sys.modules]}))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["result"] == {"__array__": "numpy", "dtype": "float32", "shape": [1], "data": [0.5]}
    assert report["signature"].startswith("(prompt: 'torch.Tensor', /,")
    assert report["third_party"] == []
