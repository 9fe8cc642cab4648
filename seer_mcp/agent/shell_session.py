"""A persistent shell session: each command sees the working directory, variables,
functions and aliases that the commands before it left behind.

Every command runs in a fresh `bash` that first restores the session's saved
state and saves it again when it exits. That keeps what a persistent shell is
for (`cd`, `export`, `source venv/bin/activate` carry over) while each command
still gets `run_command`'s guarantees: a timeout kills everything it started,
and background jobs cannot hold its output open. A command killed at its
timeout leaves the state as it was before it ran.

Every command and its output is appended to a plain-text transcript.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from seer_mcp.agent import beneath
from seer_mcp.agent.processes import Processes
from seer_mcp.agent.shell import run_command
from seer_mcp.limits import CELL_HEARTBEAT_S
from seer_mcp.progress import CellProgressHandler
from seer_mcp.wire import CellProgress, CellResult, ErrorInfo, SessionInfo

# Variables bash manages itself: restoring them would be wrong or fail (they are read-only).
_BASH_OWN = ("BASH", "BASHOPTS", "BASHPID", "BASH_ALIASES", "BASH_ARGC", "BASH_ARGV", "BASH_ARGV0", "BASH_CMDS",
             "BASH_COMMAND", "BASH_EXECUTION_STRING", "BASH_LINENO", "BASH_SOURCE", "BASH_SUBSHELL", "BASH_VERSINFO",
             "BASH_VERSION", "COLUMNS", "COMP_WORDBREAKS", "DIRSTACK", "EPOCHREALTIME", "EPOCHSECONDS", "EUID",
             "FUNCNAME", "GROUPS", "HISTCMD", "HOSTNAME", "HOSTTYPE", "IFS", "LINENO", "LINES", "MACHTYPE", "OLDPWD",
             "OPTERR", "OPTIND", "OSTYPE", "PIPESTATUS", "PPID", "PS4", "PWD", "RANDOM", "SECONDS", "SHELLOPTS",
             "SHLVL", "SRANDOM", "UID", "_", "_seer_status", "_seer_state")

# Runs the command file in this shell, then saves what the next command should find.
# Variables are saved by name with `declare -p`, which quotes values that span lines;
# filtering its output line by line could turn such a value into commands.
_WRAPPER = """\
shopt -s expand_aliases
_seer_state={state}
[ -f "$_seer_state" ] && source "$_seer_state" 2>/dev/null
_seer_save() {{
  _seer_status=$?
  _seer_skip=" {own} $(declare -rp 2>/dev/null | sed -n 's/^declare -[a-zA-Z-]* \\([A-Za-z_][A-Za-z0-9_]*\\).*/\\1/p' | tr '\\n' ' ') "
  _seer_names=()
  for _seer_v in $(compgen -v); do
    [[ $_seer_skip == *" $_seer_v "* || $_seer_v == _seer_* ]] || _seer_names+=("$_seer_v")
  done
  {{
    printf 'cd %q\\n' "$PWD"
    declare -p "${{_seer_names[@]}}"
    declare -f
    alias -p
  }} > "$_seer_state.tmp" 2>/dev/null && mv -f "$_seer_state.tmp" "$_seer_state"
  exit $_seer_status
}}
trap _seer_save EXIT
source {command}
"""


class ShellSession:
    """One `kind="cli"` session: a shell whose state lives in a file between commands."""

    kind = "cli"

    def __init__(self, session_id: str, name: str, workspace: Path, env: dict[str, str], state_dir: Path,
                 transcript: Path, mirror: Path | None = None, processes: Processes | None = None) -> None:
        self.session_id = session_id
        self.name = name
        self.workspace = workspace
        self.env = env
        self.state_dir = state_dir
        self.transcript = transcript
        self.mirror = mirror
        self.processes = processes
        self.count = 0
        self._running: asyncio.Task[object] | None = None
        self._lock = asyncio.Lock()

    @property
    def status(self) -> str:
        return "busy" if self._running is not None else "idle"

    @property
    def dead(self) -> bool:
        return False

    def info(self, notebooks_root: Path) -> SessionInfo:
        return SessionInfo(session_id=self.session_id, name=self.name, kind="cli",
                           notebook_path=str(self.transcript.relative_to(notebooks_root)),
                           mirror_path=str(self.mirror) if self.mirror else None, kernel_status=self.status)

    def partial_outputs(self) -> list[dict[str, object]]:
        """A command's output is read when it ends, so nothing shows before."""
        return []

    def next_cell_index(self, replace_index: int | None = None) -> int:
        return self.count

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._write_state("state.sh", f"cd {_quote(str(self.workspace))}\n")
        self._append(f"# shell session {self.name!r} ({self.session_id}), started in {self.workspace}\n\n")

    async def execute(self, command: str, timeout: float, on_progress: CellProgressHandler | None = None,
                      replace_index: int | None = None) -> CellResult:
        if replace_index is not None:
            raise ValueError("a shell session has no cells to edit; run the command again")
        async with self._lock:  # one command at a time, like a terminal
            self.count += 1
            number = self.count
            command_file = self.state_dir / "command.sh"
            self._write_state(command_file.name, command + "\n")
            script = _WRAPPER.format(state=_quote(str(self.state_dir / "state.sh")), own=" ".join(_BASH_OWN),
                                     command=_quote(str(command_file)))
            started = time.perf_counter()
            task = asyncio.ensure_future(run_command(script, cwd=self.workspace, env=self.env, timeout=timeout,
                                                   processes=self.processes))
            self._running = task
            beats = asyncio.ensure_future(self._heartbeat(started, on_progress)) if on_progress else None
            try:
                result = await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # our caller was cancelled, not the command
                result = None
            finally:
                self._running = None
                if beats is not None:
                    beats.cancel()
            duration = time.perf_counter() - started
        if result is None:
            self._record(command, "", f"[interrupted after {duration:.2f} s]")
            return CellResult(status="error", cell_index=number - 1, execution_count=number, duration=duration,
                              error=ErrorInfo(ename="Interrupted", evalue="the command was interrupted"),
                              message="the command was interrupted; the shell's state is as before it ran")
        outputs = [{"output_type": "stream", "name": stream, "text": text}
                   for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)) if text]
        if result.timed_out:
            self._record(command, result.stdout + result.stderr, f"[killed at its {timeout:g} s timeout]")
            return CellResult(status="timeout", cell_index=number - 1, execution_count=number, outputs=outputs,
                              duration=duration,
                              message=f"the command ran past its {timeout:g}s timeout and was killed with everything "
                                      "it started; the shell's state is as before it ran")
        self._record(command, result.stdout + result.stderr, f"[exit {result.exit_code} · {duration:.2f} s]")
        error = None
        if result.exit_code:
            error = ErrorInfo(ename="ExitStatus", evalue=f"the command exited with status {result.exit_code}")
        return CellResult(status="error" if error else "ok", cell_index=number - 1, execution_count=number,
                          outputs=outputs, error=error, duration=duration,
                          message=f"exit status {result.exit_code}" if error else "")

    @staticmethod
    async def _heartbeat(started: float, on_progress: CellProgressHandler) -> None:
        """Output is only read at the end, so a long command says it is alive with heartbeats."""
        while True:
            await asyncio.sleep(CELL_HEARTBEAT_S)
            await on_progress(CellProgress(elapsed=time.perf_counter() - started))

    async def interrupt(self) -> None:
        if self._running is not None:
            self._running.cancel()  # run_command kills the command's process group

    async def restart(self) -> None:
        """A fresh shell: back in the workspace, with the sandbox's own environment."""
        await self.interrupt()
        self._write_state("state.sh", f"cd {_quote(str(self.workspace))}\n")
        self._append("# shell restarted: working directory and variables reset\n\n")

    async def shutdown(self) -> None:
        await self.interrupt()

    def transcript_bytes(self) -> bytes:
        fd, _ = beneath.open_file(self.workspace, self._transcript_in_workspace())
        with os.fdopen(fd, "rb") as f:
            return f.read()

    def _transcript_in_workspace(self) -> str:
        return str(self.transcript.relative_to(self.workspace))

    def _write_state(self, name: str, text: str) -> None:
        # The sandbox can write the folder of state folders too: no link there may lead the agent out of it.
        beneath.replace_file(self.state_dir.parent, f"{self.state_dir.name}/{name}", text.encode(), durable=False)

    def _record(self, command: str, output: str, footer: str) -> None:
        shown = "\n".join(("$ " if i == 0 else "> ") + line for i, line in enumerate(command.splitlines() or [""]))
        body = output if not output or output.endswith("\n") else output + "\n"
        self._append(f"{shown}\n{body}{footer}\n\n")

    def _append(self, text: str) -> None:
        with os.fdopen(beneath.open_append(self.workspace, self._transcript_in_workspace()), "a",
                       encoding="utf-8") as f:
            f.write(text)
        if self.mirror is not None:  # outside the sandbox, where it cannot reach
            self.mirror.parent.mkdir(parents=True, exist_ok=True)
            with open(self.mirror, "a", encoding="utf-8") as f:
                f.write(text)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
