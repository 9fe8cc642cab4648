"""The agent's side of interfaces: one worker process per served file.

A worker that crashes takes only itself down: its pending calls fail with
"interface worker died" and the interface stays dead until it is reloaded.
A call past its timeout is cancelled in the worker; if it does not stop
within a grace period, the worker is replaced by a freshly loaded one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from seer_mcp.agent.processes import DirectProcesses, Processes, SandboxProcess
from seer_mcp.bearer import token_matches
from seer_mcp.limits import INTERFACE_CANCEL_GRACE_S
from seer_mcp.wire import ErrorKind, InterfaceCallResult, InterfaceFunction, InterfaceInfo, ServeInterfaceRequest

log = logging.getLogger(__name__)

_STOP_GRACE_S = 2.0
_LOG_TAIL_LINES = 25


class InterfaceLoadError(Exception):
    """The file did not load: a syntax error, an import error, an exception at module level."""


class InterfaceDeadError(Exception):
    """The worker process is gone."""


def _exit_text(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class InterfaceWorker:
    """One served interface file and the process that runs it."""

    def __init__(self, request: ServeInterfaceRequest, path: Path, workspace: Path, env: dict[str, str],
                 log_path: Path, token: str | None = None, processes: Processes | None = None) -> None:
        self.request = request
        self.processes: Processes = processes or DirectProcesses()
        self.path = path
        self.workspace = workspace
        self.env = {**env, **request.env}
        self.log_path = log_path
        self.token = token or secrets.token_urlsafe(32)
        self.functions: list[InterfaceFunction] = []
        self.detail = ""
        self._proc: SandboxProcess | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._write_lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self.request.name

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None and not self.detail

    def info(self) -> InterfaceInfo:
        path = self.path.relative_to(self.workspace) if self.path.is_relative_to(self.workspace) else self.path
        return InterfaceInfo(name=self.name, path=str(path), status="ready" if self.alive else "dead",
                             functions=self.functions, pid=self._proc.pid if self._proc else None,
                             detail=self.detail, token=self.token, call_timeout=self.request.call_timeout)

    # ----- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Starts the worker and waits until the file has loaded; raises InterfaceLoadError."""
        self.detail = ""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self._proc = await self.processes.spawn(
                [sys.executable, "-m", "seer_mcp.agent.interface_worker", str(self.path), self.name],
                stdin="pipe", stdout="pipe", stderr=log_file, cwd=self.workspace, env=self.env)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        init = {"op": "init", "workspace": str(self.workspace),
                "models": [m.model_dump(exclude={"lookup_name", "base_lookup_name"})
                           | {"_lookup_name": m.lookup_name, "_base_lookup_name": m.base_lookup_name}
                           for m in self.request.models]}
        self._proc.stdin.write((json.dumps(init) + "\n").encode())
        try:
            async with asyncio.timeout(self.request.load_timeout):
                line = await self._proc.stdout.readline()
        except TimeoutError:
            await self._kill()
            self.detail = f"interface {self.name!r} did not finish loading within {self.request.load_timeout:g}s"
            raise InterfaceLoadError(self.detail) from None
        message = json.loads(line) if line.strip() else {}
        if message.get("op") == "ready":
            self.functions = [InterfaceFunction.model_validate(f) for f in message["functions"]]
            self._reader = asyncio.create_task(self._read_replies())
            return
        await self._kill()
        if message.get("op") == "load_error":
            self.detail = (f"interface {self.name!r} failed to load {self.path.name}:\n"
                           + "".join(message["error"]["traceback"]).rstrip())
        else:
            self.detail = (f"interface worker died while loading {self.path.name} "
                           f"({_exit_text(self._proc.returncode)}). Its log ends with:\n{self._log_tail()}")
        raise InterfaceLoadError(self.detail)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._kill()
        self._fail_pending("the interface was stopped")

    async def _kill(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # a worker that is idle exits on its own
        try:
            await asyncio.wait_for(proc.wait(), _STOP_GRACE_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-_LOG_TAIL_LINES:]) or "(empty)"

    # ----- calls -------------------------------------------------------------

    async def _read_replies(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        while line := await proc.stdout.readline():
            message = json.loads(line)
            future = self._pending.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)
        code = await proc.wait()
        self.detail = (f"interface worker died ({_exit_text(code)}); reload_interface({self.name!r}) loads it "
                       f"again. Its log ends with:\n{self._log_tail()}")
        log.warning("interface %s: worker died (%s)", self.name, _exit_text(code))
        self._fail_pending(self.detail)

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(InterfaceDeadError(reason))

    async def _send(self, message: dict[str, Any]) -> None:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        async with self._write_lock:
            proc.stdin.write((json.dumps(message, separators=(",", ":")) + "\n").encode())
            await proc.stdin.drain()

    async def call(self, function: str, arguments: dict[str, Any], timeout: float | None) -> InterfaceCallResult:
        """Runs one call; raises LookupError/ValueError when the worker refuses it, InterfaceDeadError."""
        if not self.alive:
            raise InterfaceDeadError(self.detail or f"interface {self.name!r} is not running")
        timeout = timeout or self.request.call_timeout
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            await self._send({"op": "call", "id": call_id, "function": function, "arguments": arguments})
        except (ConnectionError, RuntimeError) as exc:
            self._pending.pop(call_id, None)
            raise InterfaceDeadError(f"interface worker is not reachable ({exc})") from exc
        try:
            reply = await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            reply = await self._cancel(call_id, future, timeout)
        if reply.get("op") == "refused":
            kind = LookupError if reply.get("error") == ErrorKind.NOT_FOUND else ValueError
            raise kind(reply.get("message", "the call was refused"))
        return InterfaceCallResult.model_validate(reply)

    async def _cancel(self, call_id: int, future: asyncio.Future[dict[str, Any]], timeout: float) -> dict[str, Any]:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._send({"op": "cancel", "id": call_id})
        try:
            reply = await asyncio.wait_for(asyncio.shield(future), INTERFACE_CANCEL_GRACE_S)
        except TimeoutError:
            reply = None
        message = f"the call ran past its {timeout:g}s timeout and was cancelled"
        if reply is None:
            # Stuck in native code: the only way to free the interface is a new worker.
            self._pending.pop(call_id, None)
            log.warning("interface %s: call %d did not stop; replacing the worker", self.name, call_id)
            await self.stop()
            await self.start()
            message += "; it did not stop, so the interface was restarted and its module-level state reloaded"
        elif reply.get("op") == "result" and not reply.get("ok") and reply.get("kind") == "timeout":
            reply["error"]["evalue"] = message
            return reply
        elif reply is not None:
            return reply  # it finished in the grace period after all
        return {"op": "result", "id": call_id, "ok": False, "kind": "timeout",
                "error": {"ename": "TimeoutError", "evalue": message, "traceback": []}, "duration": timeout}


class InterfaceRegistry:
    """Every interface one sandbox agent serves, by name."""

    def __init__(self, workspace: Path, logs: Path, env: dict[str, str], processes: Processes | None = None) -> None:
        self.processes = processes
        self.workspace = workspace
        self.logs = logs
        self.env = env
        self.workers: dict[str, InterfaceWorker] = {}

    def get(self, name: str) -> InterfaceWorker:
        try:
            return self.workers[name]
        except KeyError:
            raise LookupError(f"no interface {name!r} is served in this sandbox") from None

    def token_allows(self, name: str, given: str | bytes) -> bool:
        """Whether `given` is the token of the interface `name` (which opens only its call endpoint)."""
        worker = self.workers.get(name)
        return worker is not None and token_matches(given, worker.token)

    async def serve(self, request: ServeInterfaceRequest, path: Path) -> InterfaceInfo:
        if request.name in self.workers:
            raise ValueError(f"interface {request.name!r} is already served here; reload or stop it first")
        if not path.is_file():
            raise FileNotFoundError(f"interface file {request.path!r} does not exist in the sandbox")
        worker = InterfaceWorker(request, path, self.workspace, self.env, self.logs / f"interface-{request.name}.log",
                                 processes=self.processes)
        self.workers[request.name] = worker  # taken before the first await: a second serve sees the name
        try:
            await worker.start()
        except BaseException:
            del self.workers[request.name]
            raise
        return worker.info()

    async def reload(self, name: str) -> InterfaceInfo:
        """Loads the file again in a new worker; the token stays, so clients keep working."""
        worker = self.get(name)
        await worker.stop()
        await worker.start()
        return worker.info()

    async def stop(self, name: str) -> None:
        worker = self.get(name)
        del self.workers[name]
        await worker.stop()

    async def stop_all(self) -> None:
        workers, self.workers = list(self.workers.values()), {}
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)

    def pids(self) -> list[int]:
        return [w.info().pid for w in self.workers.values() if w.alive and w.info().pid]  # type: ignore[misc]
