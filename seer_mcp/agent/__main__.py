"""Start a sandbox agent: `python -m seer_mcp.agent --root DIR (--socket PATH | --port N)`.

The token comes from `--token-fd` (a pipe the backend writes it to, so it is in
no process's environment), or else from SEER_AGENT_TOKEN, which is removed from
the environment at once. With `--isolation PLAN`, kernels, shell commands and
interface workers run in the sandbox's namespaces (see seer_mcp.isolation);
the agent itself stays outside, out of their reach.
When it is listening, the agent writes one JSON line to `--ready-fd`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import uvicorn

from seer_mcp.agent.app import create_app
from seer_mcp.agent.limits import SelfLimits
from seer_mcp.agent.memory_guard import MemoryGuard, descendants, guard_name
from seer_mcp.agent.processes import DirectProcesses, Launcher, Processes, SandboxProcess
from seer_mcp.agent.state import AgentState, SandboxLayout
from seer_mcp.isolation.plan import IsolationPlan

TOKEN_ENV = "SEER_AGENT_TOKEN"
DEBUG_TOKEN_ENV = "SEER_DEBUG_TOKEN"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m seer_mcp.agent")
    parser.add_argument("--root", required=True, type=Path, help="the sandbox's root directory")
    parser.add_argument("--runtime-dir", type=Path, help="short directory for sockets (default ROOT/run)")
    parser.add_argument("--workspace", type=Path, help="the agent's working directory (default ROOT/workspace)")
    parser.add_argument("--debug-port", type=int,
                        help="also serve JupyterLab here for a human, with the token from SEER_DEBUG_TOKEN")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", type=Path, help="serve on this Unix socket (mode 0600)")
    where.add_argument("--port", type=int, help="serve on this TCP port (behind a tunnel)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--mirror-dir", type=Path, help="also write every notebook here")
    parser.add_argument("--ready-fd", type=int, help="write a JSON line here once listening")
    parser.add_argument("--idle-timeout", type=float, help="stop after this many seconds without activity")
    parser.add_argument("--expires-at", type=float, help="stop at this time (seconds since the epoch)")
    parser.add_argument("--interface-socket", type=Path,
                        help="also serve here, where the sandbox's kernels can reach it (interface tokens only "
                             "open interface calls)")
    parser.add_argument("--memory-limit", type=int, help="bytes the sandbox's processes may use together")
    parser.add_argument("--token-fd", type=int, help="read the token from this file descriptor")
    parser.add_argument("--isolation", type=Path, help="an IsolationPlan (JSON): run the sandbox's processes in it")
    return parser.parse_args(argv)


def _unix_listener(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket exists with mode 0600 from its first instant
    try:
        sock.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


def _tcp_listener(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


async def _serve(args: argparse.Namespace, token: str, debug_token: str = "") -> None:
    layout = SandboxLayout(root=args.root.resolve(), runtime=(args.runtime_dir or args.root / "run").resolve(),
                           workspace_dir=args.workspace.resolve() if args.workspace else None)
    layout.create()
    if args.mirror_dir:
        args.mirror_dir.mkdir(parents=True, exist_ok=True)
    processes = await _processes(args, layout)
    guard = _memory_guard(args, processes)
    agent = AgentState(layout, kernel_env=dict(os.environ), mirror_dir=args.mirror_dir, processes=processes,
                       memory_guard=guard)
    agent.prewarm()  # the first session's kernel starts while the server is still coming up
    sock = _unix_listener(args.socket) if args.socket else _tcp_listener(args.host, args.port)
    # http="auto" picks httptools (a dependency): about 1 ms less per request than h11.
    # The server keeps its connection alive between cells.
    config = uvicorn.Config(None, log_level="warning", lifespan="on", timeout_graceful_shutdown=5,
                            access_log=False, http="auto", timeout_keep_alive=300)
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    def announce() -> None:
        # The socket is already listening, so connections made from now on
        # wait in its backlog until uvicorn accepts them.
        if args.ready_fd is not None:
            ready = {"pid": os.getpid(), "socket": str(args.socket) if args.socket else None,
                     "port": None if args.socket else sock.getsockname()[1]}
            with os.fdopen(args.ready_fd, "w") as f:
                f.write(json.dumps(ready) + "\n")

    def stop_for(reason: str) -> None:
        # Left in the sandbox's logs, where the operator looks for why it ended.
        (layout.logs / "ended").write_text(f"the sandbox stopped itself: {reason}\n")
        stop()

    if args.idle_timeout or args.expires_at:
        agent.limits = SelfLimits(args.idle_timeout, args.expires_at, agent.cells_running, stop_for)
        limits_task = asyncio.create_task(agent.limits.run())  # noqa: F841 (lives as long as the loop)
    config.app = create_app(agent, token, stop, on_ready=announce)
    watcher = await _start_jupyterlab(args, layout, debug_token, processes) if args.debug_port else None
    try:
        extra = [_unix_listener(args.interface_socket)] if args.interface_socket else []
        await server.serve(sockets=[sock, *extra])
    finally:
        if watcher is not None and watcher.returncode is None:
            watcher.signal_group(signal.SIGTERM)
            await watcher.wait()
        await processes.close()
        if guard is not None:
            guard.close()


async def _processes(args: argparse.Namespace, layout: SandboxLayout) -> Processes:
    if args.isolation is None:
        _adopt_orphans()
        return DirectProcesses()
    plan = IsolationPlan.model_validate_json(args.isolation.read_text())
    with open(layout.logs / "launcher.log", "ab") as log_file:
        return await Launcher.start(plan, dict(os.environ), log_file)


def _memory_guard(args: argparse.Namespace, processes: Processes) -> MemoryGuard | None:
    if not args.memory_limit:
        return None
    if isinstance(processes, Launcher):
        launcher_pid = processes.proc.pid
        guard = MemoryGuard(args.memory_limit, lambda: descendants(launcher_pid), guard_name())
    else:
        guard = MemoryGuard(args.memory_limit, lambda: descendants(os.getpid(), skip_self=True), guard_name())
    guard.adopt()  # the launcher has started nothing yet, so everything it starts is in the cgroup
    guard.start()
    logging.getLogger(__name__).info("memory limit %d MiB kept by %s", args.memory_limit >> 20, guard.how)
    return guard


def _adopt_orphans() -> None:
    """Without namespaces, a process that detaches (setsid, double fork) is re-parented to the agent
    rather than to init, so it stays in the agent's process tree, where terminate finds it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


async def _start_jupyterlab(args: argparse.Namespace, layout: SandboxLayout, debug_token: str,
                            processes: Processes) -> SandboxProcess | None:
    """JupyterLab on the workspace, for a human to watch; its token never appears on a command line."""
    if not debug_token:
        logging.getLogger(__name__).error("--debug-port without SEER_DEBUG_TOKEN: not serving JupyterLab")
        return None
    env = {**os.environ, "JUPYTER_TOKEN": debug_token}
    with open(layout.logs / "jupyterlab.log", "ab") as log_file:
        return await processes.spawn(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", args.host, "--port", str(args.debug_port),
             "--ServerApp.root_dir", str(layout.workspace), "--allow-root"],
            env=env, cwd=layout.workspace, stdout=log_file, stderr=log_file)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parse(argv)
    token = os.environ.pop(TOKEN_ENV, "")
    if args.token_fd is not None:
        with os.fdopen(args.token_fd) as f:
            token = f.read().strip()
    debug_token = os.environ.pop(DEBUG_TOKEN_ENV, "")
    if not token:
        sys.exit(f"no token: pass --token-fd or set {TOKEN_ENV}; the agent refuses to serve without one")
    asyncio.run(_serve(args, token, debug_token))


if __name__ == "__main__":
    main()
