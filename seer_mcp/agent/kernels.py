"""Kernel sessions: one Jupyter kernel, its notebook, and the cells run on it.

Every wait on the cell path is event-driven: one task reads the kernel's IOPub
channel and hands each message to the cell it belongs to, and the kernel
process's pidfd wakes us the moment the kernel dies. A cell that outlives its
timeout is interrupted (SIGINT), never killed, so its variables survive. A
kernel that dies is reported as dead and stays dead until `restart` is asked
for: it is never silently replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager

from seer_mcp.agent.kernel_provisioner import kernel_manager

from seer_mcp.agent.notebooks import NotebookFile, output_from_msg
from seer_mcp.agent.processes import Processes
from seer_mcp.limits import CELL_HEARTBEAT_S, CELL_INTERRUPT_GRACE_S, KERNEL_READY_TIMEOUT_S
from seer_mcp.progress import CellProgressHandler
from seer_mcp.wire import KERNEL_DIED, CellProgress, CellResult, ErrorInfo

log = logging.getLogger(__name__)


# Output-driven progress events are sent at most this often (a silent cell's heartbeat: CELL_HEARTBEAT_S).
PROGRESS_MIN_GAP_S = 0.5

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")

_DIED = object()  # queued to the running cell when the kernel process exits
_RESTARTED = object()  # queued to the running cell when a restart replaces its kernel
_DEADLINE = object()  # queued when the cell's timeout (then the interrupt's grace) runs out
_HEARTBEAT = object()  # queued every CELL_HEARTBEAT_S while the cell runs


class KernelDeadError(RuntimeError):
    """The session's kernel has died; `restart` brings a fresh one."""


def write_kernelspec(directory: Path) -> Path:
    """A kernelspec that runs ipykernel on the agent's own interpreter."""
    spec_dir = directory / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
        "interrupt_mode": "signal",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return directory


@dataclass
class _CellRun:
    """Collects the IOPub messages of one execute request."""

    msg_id: str
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)


class _OutputCollector:
    """Builds nbformat outputs from IOPub messages, as nbclient does."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []
        self._stream_parts: dict[int, list[str]] = {}
        self._display_index: dict[str, list[int]] = {}
        self._clear_on_next = False
        self.execution_count: int | None = None
        self.error: ErrorInfo | None = None
        self.last_line = ""

    def feed(self, msg: dict[str, Any]) -> None:
        kind = msg["msg_type"]
        content = msg["content"]
        if kind == "execute_input":
            self.execution_count = content.get("execution_count")
            return
        if kind == "clear_output":
            if content.get("wait"):
                self._clear_on_next = True
            else:
                self._clear()
            return
        if kind == "update_display_data":
            self._update_display(content)
            return
        if kind not in ("stream", "display_data", "execute_result", "error"):
            return
        if self._clear_on_next:
            self._clear()
        if kind == "stream":
            self._append_stream(content["name"], content.get("text", ""))
            return
        self.outputs.append(output_from_msg(msg))
        if kind == "execute_result":
            self.execution_count = content.get("execution_count", self.execution_count)
            self._note_line(str(content.get("data", {}).get("text/plain", "")))
        elif kind == "error":
            self.error = ErrorInfo(ename=content.get("ename", ""), evalue=content.get("evalue", ""),
                                   traceback=list(content.get("traceback", [])))
            self._note_line(f"{self.error.ename}: {self.error.evalue}")
        display_id = content.get("transient", {}).get("display_id")
        if display_id:
            self._display_index.setdefault(display_id, []).append(len(self.outputs) - 1)

    def finish(self) -> list[dict[str, Any]]:
        for index, parts in self._stream_parts.items():
            self.outputs[index]["text"] = "".join(parts)
        self._stream_parts.clear()
        return self.outputs

    def snapshot(self) -> list[dict[str, Any]]:
        """The outputs so far, streams joined, while the cell still runs."""
        return [{**output, "text": "".join(self._stream_parts[index])} if index in self._stream_parts else output
                for index, output in enumerate(self.outputs)]

    def add_error(self, ename: str, evalue: str) -> None:
        self.finish()
        self.outputs.append({"output_type": "error", "ename": ename, "evalue": evalue,
                             "traceback": [f"{ename}: {evalue}"]})

    def _append_stream(self, name: str, text: str) -> None:
        last = len(self.outputs) - 1
        if last >= 0 and self.outputs[last].get("output_type") == "stream" and self.outputs[last]["name"] == name:
            self._stream_parts.setdefault(last, [self.outputs[last]["text"]]).append(text)
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": ""})
            self._stream_parts[len(self.outputs) - 1] = [text]
        self._note_line(text)

    def _note_line(self, text: str) -> None:
        lines = [ln for ln in text.replace("\r", "\n").split("\n") if ln.strip()]
        if lines:
            self.last_line = lines[-1][-300:]

    def _update_display(self, content: dict[str, Any]) -> None:
        display_id = content.get("transient", {}).get("display_id")
        for index in self._display_index.get(display_id or "", []):
            self.outputs[index]["data"] = content.get("data", {})
            self.outputs[index]["metadata"] = content.get("metadata", {})

    def _clear(self) -> None:
        self.outputs.clear()
        self._stream_parts.clear()
        self._display_index.clear()
        self._clear_on_next = False


class KernelSession:
    """A kernel, the notebook its cells are saved in, and one cell at a time."""

    def __init__(self, kernel_id: str, *, kernelspec_dir: Path, runtime_dir: Path, cwd: Path,
                 env: dict[str, str], log_path: Path, processes: Processes | None = None,
                 connection_dir: Path | None = None) -> None:
        self.kernel_id = kernel_id
        self.session_id = ""
        self.name = ""
        self.notebook: NotebookFile | None = None
        self._cwd = cwd
        self._env = env
        self._log_path = log_path
        self.processes = processes
        self.km = kernel_manager(
            processes,
            kernel_id=kernel_id,
            kernel_name="python3",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernelspec_dir)]),
            transport="ipc",
            ip=str(runtime_dir / f"k-{kernel_id}"),
        )
        self.km.connection_file = str((connection_dir or runtime_dir) / f"kernel-{kernel_id}.json")
        self._client: Any = None
        self._lock = asyncio.Lock()  # one cell at a time per kernel
        self._current: _CellRun | None = None
        self._collector: _OutputCollector | None = None  # the running cell's, for partial_outputs
        self._readers: list[asyncio.Task[None]] = []
        self._pidfd: int | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.memory_guard: Any = None  # the sandbox's MemoryGuard, when it has a memory limit
        self.dead = False
        self.busy = False
        self._restarting = False

    # ----- lifecycle -------------------------------------------------------

    def bind(self, session_id: str, name: str, notebook: NotebookFile) -> None:
        """Give a started kernel its session: kernels may be started before anyone asks."""
        self.session_id, self.name, self.notebook = session_id, name, notebook

    async def start(self) -> None:
        with open(self._log_path, "ab") as log_file:  # the kernel process keeps its own copy
            await self.km.start_kernel(cwd=str(self._cwd), env=self._env, stdout=log_file, stderr=log_file)
        await self._connect()

    async def _connect(self) -> None:
        self._client = self.km.client()
        self._client.start_channels()
        await self._client.wait_for_ready(timeout=KERNEL_READY_TIMEOUT_S)
        self.dead = False
        self._readers = [asyncio.create_task(self._read_iopub()), asyncio.create_task(self._drain_shell())]
        self._watch_process()

    async def restart(self) -> None:
        """A fresh kernel; the notebook keeps every earlier cell."""
        # The old kernel's exit is expected here: it must not mark the session dead.
        self._restarting = True
        try:
            if self._current is not None:
                self._current.queue.put_nowait(_RESTARTED)
            self._stop_watching()
            await self._stop_readers()
            if self._client is not None:
                self._client.stop_channels()
            # restart_kernel (not shutdown + start) keeps the manager's ZMQ context alive,
            # and it copes with a kernel process that is already gone.
            with open(self._log_path, "ab") as log_file:
                await self.km.restart_kernel(now=True, stdout=log_file, stderr=log_file)
            await self._connect()
        finally:
            self._restarting = False

    async def shutdown(self) -> None:
        self._stop_watching()
        await self._stop_readers()
        if self._client is not None:
            self._client.stop_channels()
        if self.km.has_kernel:
            with contextlib.suppress(Exception):
                await self.km.shutdown_kernel(now=True)

    async def interrupt(self) -> None:
        if self.dead:
            raise KernelDeadError(KERNEL_DIED)
        await self.km.interrupt_kernel()

    @property
    def kernel_pid(self) -> int | None:
        process = getattr(self.km.provisioner, "process", None)
        return getattr(process, "pid", None)

    @property
    def status(self) -> str:
        return "dead" if self.dead else ("busy" if self.busy else "idle")

    # ----- cells -----------------------------------------------------------

    def partial_outputs(self) -> list[dict[str, Any]]:
        """What the running cell has output so far (nothing between cells)."""
        collector = self._collector
        return collector.snapshot() if collector is not None else []

    def next_cell_index(self, replace_index: int | None = None) -> int:
        """Where the next cell will be saved."""
        assert self.notebook is not None
        return self.notebook.cell_count if replace_index is None else replace_index

    async def execute(self, code: str, timeout: float, on_progress: CellProgressHandler | None = None,
                      replace_index: int | None = None) -> CellResult:
        """Run one cell and save it: appended, or in place of `replace_index`."""
        assert self.notebook is not None, "execute on a kernel that is not bound to a session"
        async with self._lock:
            if self.dead:
                raise KernelDeadError(KERNEL_DIED)
            self.busy = True
            try:
                started = time.time()
                status, collector, message = await self._run(code, timeout, on_progress)
                outputs = collector.finish()
                meta = {"status": status, "started": started, "duration": round(time.time() - started, 4)}
                if replace_index is None:
                    index = self.notebook.append_code(code, collector.execution_count, outputs, meta)
                else:
                    index = replace_index
                    self.notebook.replace_code(index, code, collector.execution_count, outputs, meta)
                return CellResult(status=status, execution_count=collector.execution_count, cell_index=index,
                                  outputs=outputs, error=collector.error, duration=meta["duration"],
                                  message=message)
            finally:
                self.busy = False

    async def run_hidden(self, code: str, timeout: float) -> str:
        """Run set-up code that stays out of the notebook; returns what it printed.

        Raises ValueError with the traceback when the code fails or times out.
        """
        async with self._lock:
            status, collector, message = await self._run(code, timeout, None, silent=True)
        outputs = collector.finish()
        if status != "ok":
            error = collector.error
            detail = _ANSI.sub("", "\n".join(error.traceback)) if error else message
            raise ValueError(f"session set-up failed ({status}):\n{detail}")
        return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream" and o["name"] == "stdout")

    async def warm_up(self) -> None:
        """Run an invisible first cell: IPython's first execution is several times slower."""
        async with self._lock:
            await self._run("pass", KERNEL_READY_TIMEOUT_S, None, silent=True)

    async def _run(self, code: str, timeout: float, on_progress: CellProgressHandler | None,
                   silent: bool = False) -> tuple[str, _OutputCollector, str]:
        # Timers post sentinels into the cell's queue, so the loop below wakes
        # only for a message, a deadline or a heartbeat, never to poll.
        collector = _OutputCollector()
        loop = asyncio.get_running_loop()
        kills_before = self.memory_guard.oom_kills() if self.memory_guard is not None else 0
        msg_id = self._client.execute(code, silent=silent, store_history=not silent, allow_stdin=False,
                                      stop_on_error=False)
        run = _CellRun(msg_id)
        self._current = run
        if not silent:
            self._collector = collector
        started = time.monotonic()
        timers = [loop.call_later(timeout, run.queue.put_nowait, _DEADLINE)]

        def heartbeat() -> None:
            run.queue.put_nowait(_HEARTBEAT)
            timers.append(loop.call_later(CELL_HEARTBEAT_S, heartbeat))

        timers.append(loop.call_later(CELL_HEARTBEAT_S, heartbeat))
        interrupted = False
        last_progress, last_line = 0.0, ""
        try:
            while True:
                msg = await run.queue.get()
                if msg is _HEARTBEAT:
                    if on_progress is not None:
                        await on_progress(CellProgress(elapsed=time.monotonic() - started,
                                                       last_line=collector.last_line))
                    continue
                if msg is _DEADLINE:
                    if interrupted:
                        return "timeout", collector, (
                            f"cell exceeded its {timeout:g}s timeout and did not stop after an interrupt; "
                            "the kernel is still busy with it; call restart_kernel if it stays stuck")
                    interrupted = True
                    await self.km.interrupt_kernel()
                    timers.append(loop.call_later(CELL_INTERRUPT_GRACE_S, run.queue.put_nowait, _DEADLINE))
                    continue
                if msg is _DIED:
                    collector.add_error("KernelDied", KERNEL_DIED)
                    guard = self.memory_guard
                    if guard is not None and guard.oom_kills() > kills_before:
                        return "dead", collector, (
                            f"{KERNEL_DIED}: the sandbox went over its memory limit "
                            f"({guard.limit_bytes >> 20} MiB) and the kernel was killed; call restart_kernel, "
                            "and use less memory or create the sandbox with a larger `memory`")
                    return "dead", collector, (
                        f"{KERNEL_DIED}: the kernel process exited while the cell ran; call restart_kernel")
                if msg is _RESTARTED:
                    collector.add_error("KernelRestarted", "kernel restarted while the cell ran, state lost")
                    return "dead", collector, "kernel restarted while the cell ran, state lost"
                if msg["msg_type"] == "status":
                    if msg["content"].get("execution_state") == "idle":
                        break
                    continue
                collector.feed(msg)
                if (on_progress is not None and collector.last_line != last_line
                        and time.monotonic() - last_progress >= PROGRESS_MIN_GAP_S):
                    last_progress, last_line = time.monotonic(), collector.last_line
                    await on_progress(CellProgress(elapsed=last_progress - started, last_line=last_line))
        finally:
            self._current = None
            self._collector = None
            for timer in timers:
                timer.cancel()
        if interrupted:
            return "timeout", collector, (f"cell exceeded its {timeout:g}s timeout and was interrupted; "
                                          "the kernel and its variables are intact")
        if collector.error is not None:
            return "error", collector, ""
        return "ok", collector, ""

    # ----- message routing -------------------------------------------------

    async def _read_iopub(self) -> None:
        channel = self._client.iopub_channel
        while True:
            try:
                msg = await channel._recv()
            except asyncio.CancelledError:
                raise
            except Exception:  # a closed socket at shutdown, or a garbled message
                log.debug("iopub reader stopped", exc_info=True)
                return
            run = self._current
            if run is not None and msg.get("parent_header", {}).get("msg_id") == run.msg_id:
                run.queue.put_nowait(msg)

    async def _drain_shell(self) -> None:
        # Replies are not needed (IOPub carries everything) but must be read,
        # or they pile up in the socket for the kernel's whole life.
        channel = self._client.shell_channel
        while True:
            try:
                await channel._recv()
            except asyncio.CancelledError:
                raise
            except Exception:
                return

    async def _stop_readers(self) -> None:
        for task in self._readers:
            task.cancel()
        for task in self._readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._readers = []

    # ----- death watch -----------------------------------------------------

    def _watch_process(self) -> None:
        pid = self.kernel_pid
        if pid is None:
            return
        if self.processes is not None and self.processes.isolated:  # a pid of the sandbox's, not ours
            self._watcher = asyncio.get_running_loop().create_task(self._wait_for_exit())
            return
        try:
            self._pidfd = os.pidfd_open(pid)
        except (OSError, AttributeError):
            asyncio.get_running_loop().create_task(self._wait_for_exit())
            return
        asyncio.get_running_loop().add_reader(self._pidfd, self._on_kernel_exit)

    async def _wait_for_exit(self) -> None:
        """Where no pidfd can watch the kernel: the launcher's exit report, or a thread blocked in wait()."""
        process = getattr(self.km.provisioner, "process", None)
        if process is None:
            return
        if self.processes is not None and self.processes.isolated:
            await process.wait()
        else:
            await asyncio.to_thread(process.wait)
        self._watcher = None
        self._on_kernel_exit()

    def _stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        if self._pidfd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def _on_kernel_exit(self) -> None:
        if self._restarting:
            return
        self._stop_watching()
        self.dead = True
        log.warning("kernel of session %s died", self.session_id)
        if self._current is not None:
            self._current.queue.put_nowait(_DIED)
