"""`seer-mcp run CONFIG [--dry-run]`: an agent on an experiment config, through the real server.

The run starts the server itself, `seer-mcp serve --experiment CONFIG` over stdio in a session of
its own, and the agent reaches it through a relay: the stdio server the agent's MCP client starts
is `python -m seer_mcp.experiments.stdio_relay SOCKET`, which only carries bytes between its
stdin/stdout and the run. MCP clients end the servers they start on a short clock (Claude Code:
SIGINT, SIGTERM 0.1 s later, SIGKILL about 0.5 s in; the MCP SDK: SIGTERM 2 s after closing stdin, SIGKILL
2 s later), which used to cut the server off before it had terminated the experiment's sandbox;
now they end only the relay. When the agent is done, fails, or the run is stopped (Ctrl-C,
SIGTERM), the run closes the server's stdin and waits while it terminates the sandbox. A run that
is killed outright closes that stdin all the same, and the server still cleans up on its own.

The server's known failures (`seer-mcp serve: <message>` on its stderr: a missing secret, no Modal
credentials, ...) become the run's own `ExperimentServerError`, which `seer-mcp run` prints as one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, Self, TextIO, TypeVar

from seer_mcp.errors import InvalidRequest, SeerError
from seer_mcp.experiments.config import ExperimentConfig

T = TypeVar("T")

SERVE_ERROR_PREFIX = "seer-mcp serve: "  # how `seer-mcp serve` prints a known failure (seer_mcp.cli)
_STOP_WAIT_S = 600.0  # terminating a sandbox: kernels shut down, then a Modal round trip or a process group
_WIND_DOWN_S = 60.0  # for the agent's client to finish closing once the server has ended well
_CHUNK = 1 << 16


class ExperimentServerError(SeerError):
    """The experiment's server failed: its own message, or how it ended."""


class RunStopped(Exception):
    """The run was stopped by a signal (Ctrl-C, SIGTERM) after the server had cleaned up."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


class ExperimentServer:
    """`seer-mcp serve --experiment CONFIG`, owned by the run: started by `async with`, reached through
    `entry()`, and on the way out given EOF on stdin and waited for while it terminates its sandbox."""

    def __init__(self, config_path: Path, log_level: str = "INFO", env: dict[str, str] | None = None) -> None:
        self.config_path = config_path.resolve()
        self.log_level = log_level
        self.env = {**os.environ, **env} if env else None  # the server's environment (a sweep's run: its outputs)
        self.process: asyncio.subprocess.Process | None = None
        self.errors: list[str] = []  # the server's own failure, line by line
        self._folder = ""
        self._listener: asyncio.AbstractServer | None = None
        self._agent: asyncio.Future[asyncio.StreamWriter | None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def socket_path(self) -> Path:
        return Path(self._folder) / "mcp.sock"

    def entry(self) -> dict[str, Any]:
        """The stdio MCP server entry an agent is given: the relay to this server."""
        return {"type": "stdio", "command": sys.executable,
                "args": ["-m", "seer_mcp.experiments.stdio_relay", str(self.socket_path)]}

    async def __aenter__(self) -> Self:
        self._folder = tempfile.mkdtemp(prefix="seer-run-")  # mode 0700: only this user reaches the socket
        self._agent = asyncio.get_running_loop().create_future()
        try:
            self._listener = await asyncio.start_unix_server(self._bridge, path=str(self.socket_path))
            # A session of its own: Ctrl-C at the terminal is the run's to handle, and no client's kill reaches it.
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "seer_mcp", "--log-level", self.log_level, "serve", "--experiment",
                str(self.config_path), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True, env=self.env)
        except BaseException:
            await self._close_listener()
            raise
        self._tasks = [asyncio.create_task(self._to_agent()), asyncio.create_task(self._relay_stderr())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def run_with(self, work: Awaitable[T]) -> T:
        """Runs `work` (the agent, a dry run's client) while the server runs, then stops the server.

        The server exiting first (it could not set the experiment up) cancels `work`; the server's own
        failure is what is raised then, and also when `work` failed because the server had died.
        """
        assert self.process is not None
        task = asyncio.ensure_future(work)
        ended = asyncio.ensure_future(self.process.wait())
        try:
            await asyncio.wait({task, ended}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the run was stopped
            await _cancelled(task, ended)
            raise
        if not task.done() and self.process.returncode == 0:
            # The server only ends well once the agent's side closed the session: `work` is on its way out.
            await asyncio.wait({task}, timeout=_WIND_DOWN_S)
        if not task.done():
            await _cancelled(task)
        ended.cancel()
        failure = self.failure(await self.stop())
        if failure is None and task.cancelled():
            failure = ExperimentServerError("the experiment's server exited before the agent was done")
        if failure is not None:
            raise failure from (None if task.cancelled() else task.exception())
        return task.result()

    def failure(self, code: int | None) -> ExperimentServerError | None:
        """The server's failure, from its exit code and what it said; None if it ended well (or still runs)."""
        if code is None or code == 0:
            return None
        if self.errors:
            return ExperimentServerError("\n".join(self.errors))
        if code < 0:
            return ExperimentServerError(f"the experiment's server was killed by {signal.Signals(-code).name}")
        return ExperimentServerError(f"the experiment's server exited with code {code} (its output is above)")

    async def stop(self) -> int | None:
        """Gives the server EOF and waits while it terminates its sandbox; returns its exit code (None if it is
        still stopping after `_STOP_WAIT_S`: it goes on alone, `seer-mcp ls` shows when its sandbox is gone)."""
        if self._agent is not None and not self._agent.done():
            self._agent.set_result(None)  # no agent came: the server's output goes nowhere
        process = self.process
        code = None
        try:
            if process is not None:
                _close(process.stdin)
                try:
                    code = await asyncio.wait_for(asyncio.shield(process.wait()), _STOP_WAIT_S)
                except TimeoutError:
                    print(f"seer-mcp run: the experiment's server (pid {process.pid}) is still stopping after "
                          f"{_STOP_WAIT_S:g} s; it goes on alone (seer-mcp ls shows when its sandbox is gone)",
                          file=sys.stderr, flush=True)
            for task in self._tasks:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), 5)  # what is left in the pipes
        finally:  # a signal while waiting leaves the server to finish alone, but nothing of the run's behind
            await self._close_listener()
        return code

    async def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._folder:
            shutil.rmtree(self._folder, ignore_errors=True)

    async def _bridge(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The relay connected: what it reads from the agent goes to the server's stdin."""
        assert self._agent is not None and self.process is not None and self.process.stdin is not None
        if self._agent.done():  # one agent, one MCP session
            writer.close()
            return
        self._agent.set_result(writer)
        stdin = self.process.stdin
        try:
            while chunk := await reader.read(_CHUNK):
                stdin.write(chunk)
                await stdin.drain()
        except (ConnectionError, OSError):
            pass  # the agent's side or the server went away: either way the session is over
        finally:
            _close(stdin)  # the agent is done: the server stops and terminates its sandbox

    async def _to_agent(self) -> None:
        """The server's stdout, to the agent's relay once it has connected; read to the end in any case,
        since a server blocked on a full pipe could not exit."""
        assert self._agent is not None and self.process is not None and self.process.stdout is not None
        writer = await self._agent
        stdout = self.process.stdout
        while chunk := await stdout.read(_CHUNK):
            if writer is None:
                continue
            try:
                writer.write(chunk)
                await writer.drain()
            except (ConnectionError, OSError):
                writer = None
        if writer is not None:
            writer.close()

    async def _relay_stderr(self) -> None:
        """The server's stderr, to ours as it comes, but for its one-line failure, which the run reports."""
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            text = line.decode(errors="replace")
            if text.startswith(SERVE_ERROR_PREFIX):
                self.errors.append(text[len(SERVE_ERROR_PREFIX):].rstrip("\n"))
            else:
                sys.stderr.write(text)
                sys.stderr.flush()


def _close(stream: asyncio.StreamWriter | None) -> None:
    if stream is not None and not stream.is_closing():
        stream.close()


async def _cancelled(*tasks: asyncio.Future[Any]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def dry_run(config: ExperimentConfig, out: TextIO = sys.stdout, log_level: str = "INFO") -> dict[str, Any]:
    """Provisions the experiment through the real server, prints what the agent would get, and stops."""
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport

    assert config.source_path is not None

    async def look(entry: dict[str, Any]) -> tuple[list[Any], str]:
        async with Client(StdioTransport(entry["command"], entry["args"], keep_alive=False)) as client:
            return await client.list_tools(), client.instructions or ""

    with _signals_stop_the_run() as stopped:
        try:
            async with ExperimentServer(config.source_path, log_level) as server:
                tools, instructions = await server.run_with(look(server.entry()))
        except asyncio.CancelledError:
            if not stopped:
                raise
        if stopped:
            raise RunStopped(stopped[0])
    prompt = config.task_prompt
    print(f"# experiment {config.experiment.name}: provisioned, then stopped (dry run)", file=out)
    print(f"\n## tools the agent gets ({len(tools)})", file=out)
    for tool in tools:
        first = (tool.description or "").strip().splitlines()[0] if tool.description else ""
        print(f"- {tool.name}: {first}", file=out)
    print("\n## the server's instructions\n" + instructions, file=out)
    print("\n## the task prompt\n" + (prompt or "(none: the config has no task)"), file=out)
    provider = config.agent.provider + (f" ({config.agent.model})" if config.agent.model else "")
    print(f"\n## agent\n{provider}; host tools {'on' if config.agent.allow_host_tools else 'off'}", file=out)
    return {"tools": [t.name for t in tools], "instructions": instructions, "prompt": prompt}


def agent_messages(config: ExperimentConfig, entry: dict[str, Any], transcript_path: Path | None = None) -> Any:
    """The config's agent on its task prompt, its one MCP server `entry` (the run's relay): `run_agent`'s
    message stream. `seer-mcp run` prints it; a sweep's run counts it."""
    from seer_mcp.harness import run_agent

    agent = config.agent
    return run_agent(config.task_prompt, {"seer": entry}, provider=agent.provider, model=agent.model,
                     allow_host_tools=agent.allow_host_tools, max_turns=agent.max_turns,
                     transcript_path=transcript_path)


async def run(config: ExperimentConfig, out: TextIO = sys.stdout, log_level: str = "INFO") -> int:
    """Runs the config's agent on its task prompt; prints its messages as they come."""
    try:
        import seer_mcp.harness  # noqa: F401  (agent_messages needs it: say so before the server starts)
    except ImportError as exc:
        raise InvalidRequest(f"seer-mcp run needs the harness: pip install 'seer-mcp[harness]' ({exc})") from exc
    if not config.task_prompt:
        raise InvalidRequest(f"{config.source_path}: the config has no task (experiment.task or task_file)")
    assert config.source_path is not None

    async def converse(entry: dict[str, Any], stopped: list[int]) -> None:
        async with contextlib.aclosing(agent_messages(config, entry)) as messages:
            async for message in messages:
                if stopped:
                    break  # the cancellation was absorbed on the way: stop here all the same
                print(str(message), file=out, flush=True)

    with _signals_stop_the_run() as stopped:
        try:
            async with ExperimentServer(config.source_path, log_level) as server:
                await server.run_with(converse(server.entry(), stopped))
        except asyncio.CancelledError:
            if not stopped:
                raise
        if stopped:
            raise RunStopped(stopped[0])  # the caller reports the stop and exits 128 + the signal
    return 0


@contextlib.contextmanager
def _signals_stop_the_run() -> Iterator[list[int]]:
    """Ctrl-C and SIGTERM cancel the run, and are remembered: the MCP client's shutdown (anyio cancel
    scopes) can absorb the cancellation on the way out. The server is then stopped and waited for as on
    any other way out. A second signal exits at once; the server, its stdin closed, still terminates
    the sandbox on its own."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    stopped: list[int] = []

    def on_signal(signum: int) -> None:
        if stopped:
            os._exit(128 + signum)
        stopped.append(signum)
        if task is not None:
            task.cancel()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # no loop signal handlers here (Windows, a thread)
            pass
    try:
        yield stopped
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def load(path: str) -> ExperimentConfig:
    return ExperimentConfig.load(Path(path))
