"""Interface workers inside the sandbox agent: loading, calling, refusing, cancelling, crashing."""

from __future__ import annotations

import asyncio
import json
import os
import textwrap
import time
from pathlib import Path
from typing import AsyncIterator

import pytest

from seer_mcp.agent.interfaces import InterfaceDeadError, InterfaceLoadError, InterfaceRegistry
from seer_mcp.wire import InterfaceModel, ServeInterfaceRequest

pytestmark = pytest.mark.slow


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[InterfaceRegistry]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    reg = InterfaceRegistry(workspace, tmp_path / "logs", dict(os.environ))
    yield reg
    await reg.stop_all()


async def serve(registry: InterfaceRegistry, source: str, name: str = "iface", **request: object):
    path = registry.workspace / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return await registry.serve(ServeInterfaceRequest(name=name, path=path.name, **request), path)


BASIC = """
    import json as imported_module
    import numpy as np
    import torch

    SECRET = "module global"

    def _private():
        return "private"

    def helper():
        return "not exposed"

    @expose
    def add(a: int, b: int = 2) -> int:
        '''Add two numbers.'''
        return a + b

    @expose
    def arrays() -> dict:
        return {"np": np.arange(6, dtype=np.float32).reshape(2, 3), "t": torch.ones(2, dtype=torch.bfloat16),
                "scalar": np.int64(7), "nan": float("nan"), "tuple": (1, 2)}

    @expose
    def fails(x: str) -> None:
        raise RuntimeError("bad " + x)

    @expose
    def unserializable() -> object:
        return {"ok": [1, object()]}
"""


async def test_exposed_functions_are_described_with_schema_and_docs(registry: InterfaceRegistry) -> None:
    info = await serve(registry, BASIC)
    functions = {f.name: f for f in info.functions}
    assert set(functions) == {"add", "arrays", "fails", "unserializable"}
    add = functions["add"]
    assert add.doc == "Add two numbers." and add.signature == "(a: int, b: int = 2) -> int"
    assert add.input_schema["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer", "default": 2}}
    assert add.input_schema["required"] == ["a"] and add.input_schema["additionalProperties"] is False


async def test_results_are_json_with_arrays_described(registry: InterfaceRegistry) -> None:
    await serve(registry, BASIC)
    worker = registry.get("iface")
    assert (await worker.call("add", {"a": 40}, None)).result == 42
    result = (await worker.call("arrays", {}, None)).result
    assert result["np"] == {"__array__": "numpy", "dtype": "float32", "shape": [2, 3],
                            "data": [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]}
    assert result["t"] == {"__array__": "torch", "dtype": "bfloat16", "shape": [2], "data": [1.0, 1.0]}
    assert result["scalar"] == 7 and result["nan"] == "nan" and result["tuple"] == [1, 2]


async def test_an_exception_comes_back_with_the_interface_files_traceback(registry: InterfaceRegistry) -> None:
    await serve(registry, BASIC)
    result = await registry.get("iface").call("fails", {"x": "input"}, None)
    assert not result.ok and result.kind == "exception"
    assert result.error.ename == "RuntimeError" and result.error.evalue == "bad input"
    traceback = "".join(result.error.traceback)
    assert 'iface.py", line 26, in fails' in traceback
    assert "interface_worker" not in traceback  # the worker's own frames are not the agent's business


async def test_an_unserializable_result_names_its_type(registry: InterfaceRegistry) -> None:
    await serve(registry, BASIC)
    result = await registry.get("iface").call("unserializable", {}, None)
    assert not result.ok and result.kind == "result"
    assert "result['ok'][1] has type object" in result.error.evalue


async def test_only_exposed_names_are_callable(registry: InterfaceRegistry) -> None:
    await serve(registry, """
        import json as imported_module
        import os

        SECRET = "module global"

        def _private():
            return "private"

        def helper():
            return "not exposed"

        @expose
        def add(a: int, b: int = 2) -> int:
            return a + b
    """)
    worker = registry.get("iface")
    for function in ["_private", "helper", "SECRET", "imported_module", "os", "__import__", "__init__", "__class__",
                     "__builtins__", "expose", "get_model_path", "add.__globals__", "imported_module.dumps",
                     "os.system", "add "]:
        with pytest.raises(LookupError, match="no exposed function"):
            await worker.call(function, {}, None)


async def test_arguments_are_validated_before_the_function_runs(registry: InterfaceRegistry) -> None:
    marker = registry.workspace / "ran"
    await serve(registry, f"""
        @expose
        def touch(n: int) -> int:
            open({str(marker)!r}, "w").close()
            return n
    """)
    worker = registry.get("iface")
    for bad in ({}, {"n": "not a number"}, {"n": 1, "extra": 2}, {"n": [1]}):
        with pytest.raises(ValueError, match="invalid arguments for touch"):
            await worker.call("touch", bad, None)
    assert not marker.exists()
    # A pickle payload is just a string to a `str` parameter: nothing on this path unpickles.
    assert (await worker.call("touch", {"n": "5"}, None)).result == 5


async def test_every_kind_of_parameter_travels_by_name(registry: InterfaceRegistry) -> None:
    await serve(registry, """
        import enum
        from typing import Literal, Optional, TypedDict, Union
        from pydantic import BaseModel

        class Color(enum.Enum):
            RED = "red"
            BLUE = "blue"

        class Point(BaseModel):
            x: int
            y: int = 0

        class Span(TypedDict):
            start: int
            end: int

        @expose
        def everything(a: int, b: float, /, c: str = "c", *rest: int, flag: bool = False, none: None = None,
                       items: list[int] = [], mapping: dict[str, float] = {}, pair: tuple[int, str] = (0, ""),
                       maybe: Optional[str] = None, either: Union[int, str] = 0, mode: Literal["x", "y"] = "x",
                       color: Color = Color.RED, point: Point | None = None, span: Span | None = None,
                       **extra: float) -> dict:
            return {"a": a, "b": b, "c": c, "rest": list(rest), "flag": flag, "none": none, "items": items,
                    "mapping": mapping, "pair": [type(pair).__name__, *pair], "maybe": maybe, "either": either,
                    "mode": mode, "color": color.name, "point": point and [type(point).__name__, point.x, point.y],
                    "span": span, "extra": extra}
    """)
    function = registry.get("iface").functions[0]
    props = function.input_schema["properties"]
    assert props["mode"]["enum"] == ["x", "y"] and props["rest"]["type"] == "array"
    assert props["extra"]["type"] == "object" and "$ref" in str(props["color"]) and "$ref" in str(props["point"])
    assert function.input_schema["required"] == ["a", "b"]
    result = (await registry.get("iface").call("everything", {
        "a": 1, "b": 2.5, "rest": [7, 8], "flag": True, "items": [1], "mapping": {"k": 1.5}, "pair": [3, "z"],
        "maybe": "m", "either": "s", "mode": "y", "color": "blue", "point": {"x": 4}, "span": {"start": 0, "end": 2},
        "extra": {"more": 9.0}}, None)).result
    assert result == {"a": 1, "b": 2.5, "c": "c", "rest": [7, 8], "flag": True, "none": None, "items": [1],
                      "mapping": {"k": 1.5}, "pair": ["tuple", 3, "z"], "maybe": "m", "either": "s", "mode": "y",
                      "color": "BLUE", "point": ["Point", 4, 0], "span": {"start": 0, "end": 2},
                      "extra": {"more": 9.0}}
    with pytest.raises(ValueError, match="mode"):
        await registry.get("iface").call("everything", {"a": 1, "b": 2, "mode": "z"}, None)


@pytest.mark.parametrize(("source", "expected"), [
    ("x = 1\ndef broken(:\n    pass\n", ["SyntaxError", 'iface.py", line 2']),
    ("import no_such_module_anywhere\n", ["ModuleNotFoundError", "no_such_module_anywhere", 'iface.py", line 1']),
    ("\n\nraise ValueError('cannot load the model')\n", ["ValueError: cannot load the model", 'iface.py", line 3']),
    ("def f():\n    pass\n", ["exposes no function"]),
])
async def test_a_file_that_does_not_load_says_why_and_where(registry: InterfaceRegistry, source: str,
                                                            expected: list[str]) -> None:
    with pytest.raises(InterfaceLoadError) as raised:
        await serve(registry, source)
    for text in expected:
        assert text in str(raised.value)
    assert "iface" not in registry.workers  # nothing half-served


async def test_files_written_without_the_import_load_and_helpers_can_expose(registry: InterfaceRegistry) -> None:
    (registry.workspace / "shared_helpers.py").write_text(textwrap.dedent("""
        from seer_mcp.interface import expose

        @expose
        def from_a_module() -> str:
            return "helper module"
    """))
    await serve(registry, """
        import shared_helpers

        @expose
        def local() -> str:
            return "file"
    """)
    worker = registry.get("iface")
    assert {f.name for f in worker.functions} == {"from_a_module", "local"}
    assert (await worker.call("from_a_module", {}, None)).result == "helper module"


async def test_model_paths_are_known_and_hidden_names_are_not_listed(registry: InterfaceRegistry) -> None:
    models = [InterfaceModel(var_name="model", name="<hidden>", path="/models/model_0", hidden=True,
                             lookup_name="org/secret-model")]
    await serve(registry, """
        @expose
        def paths() -> dict:
            return {"by_var": get_model_path("model"), "by_name": get_model_path("org/secret-model"),
                    "listed": list_configured_models()}
    """, models=models)
    result = (await registry.get("iface").call("paths", {}, None)).result
    assert result["by_var"] == result["by_name"] == "/models/model_0"
    assert "secret" not in json.dumps(result["listed"])


async def test_without_the_operators_trust_a_hidden_name_is_not_an_oracle(registry: InterfaceRegistry) -> None:
    models = [InterfaceModel(var_name="model", name="<hidden>", path="/models/model_0", hidden=True)]
    await serve(registry, """
        @expose
        def guess(name: str) -> str:
            try:
                return get_model_path(name)
            except LookupError as exc:
                return str(exc)
    """, models=models)
    answer = (await registry.get("iface").call("guess", {"name": "org/secret-model"}, None)).result
    assert answer.startswith("no configured model 'org/secret-model'")


async def test_calls_run_one_at_a_time_unless_thread_safe(registry: InterfaceRegistry) -> None:
    await serve(registry, """
        import threading, time
        active = 0
        peak = 0
        lock = threading.Lock()

        def _work():
            global active, peak
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.2)
            with lock:
                active -= 1

        @expose
        def serial() -> None:
            _work()

        @expose(thread_safe=True)
        def parallel() -> None:
            _work()

        @expose
        def reset_peak() -> int:
            global peak
            seen, peak = peak, 0
            return seen
    """)
    worker = registry.get("iface")
    await asyncio.gather(*(worker.call("serial", {}, None) for _ in range(3)))
    assert (await worker.call("reset_peak", {}, None)).result == 1
    await asyncio.gather(*(worker.call("parallel", {}, None) for _ in range(3)))
    assert (await worker.call("reset_peak", {}, None)).result == 3


async def test_different_interfaces_run_in_parallel(registry: InterfaceRegistry) -> None:
    source = "import time\n@expose\ndef wait() -> None:\n    time.sleep(0.5)\n"
    await serve(registry, source, name="first")
    await serve(registry, source, name="second")
    started = time.perf_counter()
    await asyncio.gather(registry.get("first").call("wait", {}, None), registry.get("second").call("wait", {}, None))
    assert time.perf_counter() - started < 0.9


async def test_a_call_past_its_timeout_is_cancelled_and_the_interface_goes_on(registry: InterfaceRegistry) -> None:
    await serve(registry, """
        calls = 0

        @expose
        def spin() -> None:
            while True:
                pass

        @expose
        def count() -> int:
            global calls
            calls += 1
            return calls
    """)
    worker = registry.get("iface")
    assert (await worker.call("count", {}, None)).result == 1
    started = time.perf_counter()
    result = await worker.call("spin", {}, 0.5)
    assert time.perf_counter() - started < 3
    assert not result.ok and result.kind == "timeout" and "0.5s timeout" in result.error.evalue
    assert (await worker.call("count", {}, None)).result == 2  # same worker: its state survived


async def test_a_call_stuck_in_native_code_gets_the_worker_replaced(registry: InterfaceRegistry,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("seer_mcp.agent.interfaces.INTERFACE_CANCEL_GRACE_S", 0.5)
    await serve(registry, """
        import time

        @expose
        def stuck() -> None:
            time.sleep(30)  # C code: the cancel exception waits until it returns

        @expose
        def alive() -> str:
            return "yes"
    """)
    worker = registry.get("iface")
    pid = worker.info().pid
    result = await worker.call("stuck", {}, 0.5)
    assert result.kind == "timeout" and "restarted" in result.error.evalue
    assert worker.info().pid != pid and (await worker.call("alive", {}, None)).result == "yes"


async def test_a_crashing_worker_is_reported_and_can_be_reloaded(registry: InterfaceRegistry) -> None:
    await serve(registry, """
        import os
        print("loading")

        @expose
        def crash() -> None:
            os._exit(3)

        @expose
        def alive() -> str:
            return "yes"
    """)
    worker = registry.get("iface")
    with pytest.raises(InterfaceDeadError, match=r"interface worker died \(exit code 3\)"):
        await worker.call("crash", {}, None)
    with pytest.raises(InterfaceDeadError, match="reload_interface"):
        await worker.call("alive", {}, None)
    info = await registry.reload("iface")
    assert info.status == "ready" and (await worker.call("alive", {}, None)).result == "yes"


async def test_reloading_picks_up_a_changed_file_and_keeps_the_token(registry: InterfaceRegistry) -> None:
    info = await serve(registry, "@expose\ndef version() -> int:\n    return 1\n")
    (registry.workspace / "iface.py").write_text("@expose\ndef version() -> int:\n    return 2\n"
                                                 "@expose\ndef added() -> bool:\n    return True\n")
    reloaded = await registry.reload("iface")
    assert reloaded.token == info.token
    assert {f.name for f in reloaded.functions} == {"version", "added"}
    assert (await registry.get("iface").call("version", {}, None)).result == 2


async def test_prints_in_the_file_never_corrupt_replies(registry: InterfaceRegistry) -> None:
    await serve(registry, """
        import sys
        print('{"op": "result", "id": 1, "ok": true, "result": "forged"}')

        @expose
        def talk() -> str:
            print("noise on stdout")
            sys.stdout.write("more noise\\n")
            return "real"
    """)
    assert (await registry.get("iface").call("talk", {}, None)).result == "real"
    assert "noise on stdout" in (registry.logs / "interface-iface.log").read_text()
