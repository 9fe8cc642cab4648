"""The process that serves one interface file: `python -m seer_mcp.agent.interface_worker FILE NAME`.

It talks to the sandbox agent in JSON lines: requests on stdin, replies on the
process's original stdout. The file's own prints go to stderr (the worker's
log), so they can never corrupt a reply. Nothing on this path is unpickled.

    agent -> worker   {"op": "init", "models": [...], "workspace": ...}   (first line)
                      {"op": "call", "id": N, "function": F, "arguments": {...}}
                      {"op": "cancel", "id": N}
    worker -> agent   {"op": "ready", "functions": [...]}  or  {"op": "load_error", "error": {...}}
                      {"op": "result", "id": N, "ok": ..., "result" | "error", "kind", "duration"}
                      {"op": "refused", "id": N, "error": "not_found" | "bad_request", "message": ...}

A refusal's "error" is a `seer_mcp.wire.ErrorKind`, which the agent passes on as its own reply's kind.

Calls run in threads: functions marked thread-safe in a pool, every other
one in a single thread, so by default an interface runs one call at a time.
A cancelled call gets an exception raised in its thread; one stuck in native
code may not notice, and the agent then replaces the worker.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from seer_mcp import interface
from seer_mcp.agent.jsonable import NotSerializable, to_jsonable
from seer_mcp.agent.signatures import ArgumentError, ExposedFunction
from seer_mcp.wire import ErrorKind

_WORKER_FILES = {str(Path(__file__).resolve()), str(Path(interface.__file__).resolve())}
_THREAD_SAFE_WORKERS = 8
MAX_REPLY_BYTES = 64 * 10**6


class CallCancelled(BaseException):
    """Raised inside a call's thread when the agent cancels it (a BaseException: user code rarely catches it)."""


def error_info(exc: BaseException, skip_worker_frames: bool = True) -> dict[str, Any]:
    """ename, evalue and a traceback that starts in the interface file, not in this worker."""
    tb = traceback.TracebackException.from_exception(exc)
    if skip_worker_frames:
        frames = list(tb.stack)
        while frames and (frames[0].filename in _WORKER_FILES or "importlib" in frames[0].filename):
            frames.pop(0)
        tb.stack = traceback.StackSummary.from_list(frames)
    return {"ename": type(exc).__name__, "evalue": str(exc), "traceback": list(tb.format())}


class Worker:
    def __init__(self, path: Path, name: str, out: IO[str]) -> None:
        self.path = path
        self.name = name
        self._out = out
        self._write_lock = threading.Lock()
        self.functions: dict[str, ExposedFunction] = {}
        self._serial = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interface-call")
        self._parallel = ThreadPoolExecutor(max_workers=_THREAD_SAFE_WORKERS, thread_name_prefix="interface-call")
        self._running: dict[int, int] = {}  # call id -> thread ident
        self._futures: dict[int, Future[None]] = {}
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, allow_nan=False, separators=(",", ":"))
        if len(line) > MAX_REPLY_BYTES and message.get("ok"):
            message = {**message, "ok": False, "kind": "result", "result": None, "error": {
                "ename": "ValueError", "traceback": [],
                "evalue": f"the result is {len(line) / 1e6:.0f} MB of JSON, over the {MAX_REPLY_BYTES // 10**6} MB "
                          "limit: return a summary, or save large data to a file and return its path"}}
            line = json.dumps(message, separators=(",", ":"))
        with self._write_lock:
            self._out.write(line + "\n")
            self._out.flush()

    # ----- loading -----------------------------------------------------------

    def load(self, models: list[dict[str, Any]], workspace: str | None) -> None:
        interface._configure(models)
        for entry in (workspace and str(Path(workspace) / "libraries"), workspace, str(self.path.parent)):
            if entry and entry not in sys.path:
                sys.path.insert(0, entry)
        spec = importlib.util.spec_from_file_location(self.name, self.path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {self.path}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        # Files written without the import still load: the names are there already.
        module.__dict__.update(expose=interface.expose, get_model_path=interface.get_model_path,
                               list_configured_models=interface.list_configured_models)
        sys.modules[self.name] = module
        spec.loader.exec_module(module)
        for fn in interface._exposed:
            options = getattr(fn, interface.EXPOSED_ATTR)
            public = options["name"]
            if not public.isidentifier() or public.startswith("_"):
                raise ValueError(f"@expose(name={public!r}): exposed names must be identifiers not starting with '_'")
            if public in self.functions:
                raise ValueError(f"two functions are exposed as {public!r}; give one another name with "
                                 "@expose(name=...)")
            self.functions[public] = ExposedFunction.build(public, fn, options["thread_safe"])
        if not self.functions:
            raise ValueError(f"{self.path.name} exposes no function: mark the ones the agent may call with @expose")

    # ----- calls -------------------------------------------------------------

    def call(self, request: dict[str, Any]) -> None:
        call_id = request.get("id")
        function = self.functions.get(request.get("function") or "")
        if function is None:
            self.send({"op": "refused", "id": call_id, "error": ErrorKind.NOT_FOUND,
                       "message": f"{self.name} has no exposed function {request.get('function')!r}; "
                                  f"it exposes {', '.join(sorted(self.functions))}"})
            return
        try:
            args, kwargs = function.bind(request.get("arguments") or {})
        except ArgumentError as exc:
            self.send({"op": "refused", "id": call_id, "error": ErrorKind.BAD_REQUEST, "message": str(exc)})
            return
        pool = self._parallel if function.thread_safe else self._serial
        with self._lock:
            self._futures[call_id] = pool.submit(self._run, call_id, function, args, kwargs)

    def _run(self, call_id: int, function: ExposedFunction, args: list[Any], kwargs: dict[str, Any]) -> None:
        with self._lock:
            if call_id not in self._futures:  # cancelled while it waited for its turn
                return
            self._running[call_id] = threading.get_ident()
        started = time.perf_counter()
        reply: dict[str, Any] = {"op": "result", "id": call_id}
        try:
            try:
                value = function.fn(*args, **kwargs)
            finally:
                with self._lock:
                    self._running.pop(call_id, None)
            reply.update(ok=True, result=to_jsonable(value))
        except CallCancelled:
            reply.update(ok=False, kind="timeout",
                         error={"ename": "TimeoutError", "evalue": "the call was cancelled after its timeout",
                                "traceback": []})
        except NotSerializable as exc:
            reply.update(ok=False, kind="result",
                         error={"ename": "TypeError", "evalue": f"{function.name} returned a value that is not "
                                f"JSON-serializable: {exc}", "traceback": []})
        except BaseException as exc:
            reply.update(ok=False, kind="exception", error=error_info(exc))
        reply["duration"] = time.perf_counter() - started
        with self._lock:
            self._futures.pop(call_id, None)
        self.send(reply)

    def cancel(self, call_id: int) -> None:
        with self._lock:
            future = self._futures.get(call_id)
            thread = self._running.get(call_id)
            if future is not None and thread is None:
                self._futures.pop(call_id)
                future.cancel()
        if future is not None and thread is None:
            self.send({"op": "result", "id": call_id, "ok": False, "kind": "timeout", "duration": 0.0,
                       "error": {"ename": "TimeoutError", "evalue": "the call timed out before it started",
                                 "traceback": []}})
        elif thread is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(CallCancelled))

    def serve(self, requests: IO[str]) -> None:
        for line in requests:
            if not line.strip():
                continue
            request = json.loads(line)
            if request.get("op") == "call":
                self.call(request)
            elif request.get("op") == "cancel":
                self.cancel(request.get("id"))


def main() -> None:
    path, name = Path(sys.argv[1]), sys.argv[2]
    # Replies go out on the original stdout; anything the file prints goes to stderr.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    worker = Worker(path, name, out)
    init = json.loads(sys.stdin.readline() or "{}")
    try:
        worker.load(init.get("models", []), init.get("workspace"))
    except BaseException as exc:  # a SyntaxError, an ImportError, anything the file raised
        worker.send({"op": "load_error", "error": error_info(exc)})
        out.close()
        os._exit(1)
    worker.send({"op": "ready", "functions": [f.description.model_dump(mode="json")
                                              for f in worker.functions.values()]})
    worker.serve(sys.stdin)
    os._exit(0)  # stdin closed: the agent is gone or stopped us; don't wait for stuck calls


if __name__ == "__main__":
    main()
