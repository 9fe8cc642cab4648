"""Start a sandbox agent: `python -m seer_mcp.agent --root DIR (--socket PATH | --port N)`.

The token comes from the environment variable SEER_AGENT_TOKEN and is removed
from the environment at once, so kernels and shell commands never see it.
When it is listening, the agent writes one JSON line to `--ready-fd`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
from pathlib import Path

import uvicorn

from seer_mcp.agent.app import AgentState, SandboxLayout, create_app
from seer_mcp.agent.limits import SelfLimits

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
    agent = AgentState(layout, kernel_env=dict(os.environ), mirror_dir=args.mirror_dir)
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
    watcher = await _start_jupyterlab(args, layout, debug_token) if args.debug_port else None
    try:
        await server.serve(sockets=[sock])
    finally:
        if watcher is not None and watcher.returncode is None:
            watcher.terminate()
            await watcher.wait()


async def _start_jupyterlab(args: argparse.Namespace, layout: SandboxLayout,
                            debug_token: str) -> asyncio.subprocess.Process | None:
    """JupyterLab on the workspace, for a human to watch; its token never appears on a command line."""
    if not debug_token:
        logging.getLogger(__name__).error("--debug-port without SEER_DEBUG_TOKEN: not serving JupyterLab")
        return None
    env = {**os.environ, "JUPYTER_TOKEN": debug_token}
    with open(layout.logs / "jupyterlab.log", "ab") as log_file:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", args.host, "--port", str(args.debug_port),
            "--ServerApp.root_dir", str(layout.workspace), "--allow-root",
            env=env, cwd=layout.workspace, stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=log_file)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = os.environ.pop(TOKEN_ENV, "")
    debug_token = os.environ.pop(DEBUG_TOKEN_ENV, "")
    if not token:
        sys.exit(f"{TOKEN_ENV} is not set: the agent refuses to serve without a token")
    args = _parse(argv)
    asyncio.run(_serve(args, token, debug_token))


if __name__ == "__main__":
    main()
