"""`seer-mcp`: serve the MCP server, list and stop sandboxes, print client config.

Everything human-readable goes to stderr except what a command exists to
print (tables, config snippets); `serve` over stdio writes nothing to stdout
but the MCP channel.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from seer_mcp.version import __version__
from seer_mcp.settings import Settings


def _configure_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per agent request is noise


def _serve(args: argparse.Namespace) -> int:
    from seer_mcp.server.app import build_server

    overrides: dict[str, Any] = {}
    if args.host:
        overrides["http_host"] = args.host
    if args.port:
        overrides["http_port"] = args.port
    settings = Settings(**overrides)
    experiment = None
    if args.experiment:
        from seer_mcp.experiments.config import ExperimentConfig
        from seer_mcp.errors import InvalidRequest

        try:
            experiment = ExperimentConfig.load(args.experiment)
        except InvalidRequest as exc:
            print(f"seer-mcp: {exc}", file=sys.stderr)
            return 2
    from seer_mcp.server.auth import BearerRequired, SingleTokenVerifier, http_token
    from seer_mcp.ui.app import login_url

    if not args.http:
        ui_token = http_token(settings) if args.ui_port else None
        if ui_token:  # stderr: stdout is the MCP channel
            print(f"web UI: {login_url('127.0.0.1', args.ui_port, ui_token)}", file=sys.stderr, flush=True)
        server = build_server(settings, experiment=experiment, ui_token=ui_token, ui_port=args.ui_port)
        if os.name == "posix":
            from seer_mcp.server.stdio_stop import relay_stdin, stop_on_signals

            stop_on_signals(relay_stdin())
        asyncio.run(server.run_stdio_async(show_banner=False))
        return 0

    token = http_token(settings)
    server = build_server(settings, auth=SingleTokenVerifier(token), experiment=experiment, ui_token=token)
    url = f"http://{settings.http_host}:{settings.http_port}/mcp"
    print(f"seer-mcp {__version__} serving streamable HTTP at {url}\n"
          f"bearer token: {token}\n"
          f"(stored in {settings.token_path}; set SEER_HTTP_TOKEN to choose your own)\n"
          f"web UI: {login_url(settings.http_host, settings.http_port, token)}", file=sys.stderr, flush=True)
    from starlette.middleware import Middleware

    from seer_mcp.server.origin import HostOriginGuard

    where = "SEER_HTTP_TOKEN" if settings.http_token else f"stored in {settings.token_path}"
    hint = Middleware(BearerRequired, token=token, token_hint=f" (it is {where})")
    # Before BearerRequired, so a rebinding page learns nothing, not even that a token is wanted; /ui too.
    guard = Middleware(HostOriginGuard, host=settings.http_host, port=settings.http_port,
                       allowed_hosts=settings.http_allowed_hosts)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again once it is done. Left to the
    # default action, that kills the process before the server's lifespan closes the manager (so sandboxes
    # the setting says to terminate would be left running); as SystemExit it unwinds through it instead.
    signal.signal(signal.SIGTERM, _exit_for_signal)
    # fastmcp's own Host/Origin guard stays off: HostOriginGuard is the one check (see seer_mcp.server.origin).
    asyncio.run(server.run_http_async(show_banner=False, host=settings.http_host, port=settings.http_port,
                                      middleware=[guard, hint], host_origin_protection=False))
    return 0


def _exit_for_signal(signum: int, frame: Any) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once
    raise SystemExit(0)  # a shutdown that was asked for, and done


def _run(args: argparse.Namespace) -> int:
    from seer_mcp.experiments import run as experiment_run
    from seer_mcp.errors import InvalidRequest

    try:
        config = experiment_run.load(args.config)
    except InvalidRequest as exc:
        print(f"seer-mcp: {exc}", file=sys.stderr)
        return 2
    try:
        if args.dry_run:
            asyncio.run(experiment_run.dry_run(config))
            return 0
        return asyncio.run(experiment_run.run(config))
    except KeyboardInterrupt:
        # The agent stops; the server's stdin closes and it terminates the experiment's sandbox.
        print("\nstopped: the experiment's sandbox is terminated with its server", file=sys.stderr)
        return 130


def _ls(args: argparse.Namespace) -> int:
    from seer_mcp.manager.state import StateStore

    settings = Settings()
    if not settings.database_path.exists():
        print("no sandboxes recorded", file=sys.stderr)
        return 0
    store = StateStore(settings.database_path)
    records = store.sandboxes() if args.all else store.sandboxes(status="running")
    rows = [r.public() for r in records]
    store.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no running sandboxes" + ("" if args.all else " (--all shows ended ones)"), file=sys.stderr)
        return 0
    header = (f"{'SANDBOX':<13} {'NAME':<16} {'BACKEND':<8} {'GPU':<10} {'STATUS':<11} {'AGE':>8} {'IDLE':>8}"
              "  WORKSPACE")
    print(header)
    for row in rows:
        print(f"{row['sandbox_id']:<13} {(row['name'] or '-'):<16} {row['backend']:<8} {(row['gpu'] or '-'):<10} "
              f"{row['status']:<11} {_duration(row['age_s']):>8} {_duration(row['idle_s']):>8}  "
              f"{row['workspace_path']}")
    return 0


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def _stop(args: argparse.Namespace) -> int:
    from seer_mcp.errors import SeerError
    from seer_mcp.manager.facade import SandboxManager

    if not args.sandbox_ids and not args.all:
        print("name sandbox ids to stop, or --all", file=sys.stderr)
        return 2

    async def stop() -> int:
        settings = Settings(terminate_on_exit=False)
        failures = 0
        # Re-attaching first means live sandboxes are shut down cleanly, dead ones reaped.
        async with SandboxManager(settings) as manager:
            ids = args.sandbox_ids or [s["sandbox_id"] for s in manager.list_sandboxes()]
            for sandbox_id in ids:
                try:
                    await manager.terminate_sandbox(sandbox_id, detail="stopped with seer-mcp stop")
                    print(f"stopped {sandbox_id}", file=sys.stderr)
                except SeerError as exc:
                    print(f"{sandbox_id}: {exc}", file=sys.stderr)
                    failures += 1
        return 1 if failures else 0

    return asyncio.run(stop())


def server_command() -> list[str]:
    """The command that starts this installation's server, by absolute path.

    Clients start servers from an environment of their own, where the venv's `bin`
    is seldom on PATH: a bare `seer-mcp` there fails to connect. The venv's python
    is not resolved through its symlink, which would leave the venv.
    """
    script = Path(sys.executable).parent / "seer-mcp"
    if script.is_file():
        return [str(script), "serve"]
    return [sys.executable, "-m", "seer_mcp", "serve"]


def _client_config(args: argparse.Namespace) -> int:
    command, *base_args = server_command()
    if args.client == "claude-code":
        print(f"claude mcp add seer -- {shlex.join([command, *base_args])}")
        return 0
    # Claude Desktop starts servers in / (macOS): notebooks need an outputs folder that can be written.
    env = {"SEER_OUTPUTS_DIR": str(Path.home() / "seer-outputs")}
    snippet = {"mcpServers": {"seer": {"command": command, "args": base_args, "env": env}}}
    print(json.dumps(snippet, indent=2))
    print("# add this to claude_desktop_config.json "
          "(macOS: ~/Library/Application Support/Claude/, Windows: %APPDATA%\\Claude\\), then restart Claude Desktop",
          file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from seer_mcp.experiments.demo import main as demo_main

    return demo_main()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seer-mcp", description="MCP server for interpretability sandboxes.")
    parser.add_argument("--version", action="version", version=f"seer-mcp {__version__}")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    serve.add_argument("--http", action="store_true", help="speak streamable HTTP instead of stdio")
    serve.add_argument("--host", help="HTTP address (default 127.0.0.1, SEER_HTTP_HOST)")
    serve.add_argument("--port", type=int, help="HTTP port (default 8765, SEER_HTTP_PORT)")
    serve.add_argument("--ui-port", type=int, metavar="N",
                       help="over stdio, also serve the web UI on 127.0.0.1:N (with --http it is always at /ui)")
    serve.add_argument("--experiment", metavar="CONFIG",
                       help="operator mode: set up CONFIG's sandbox, session and interfaces at start and show "
                            "the agent only the tools the config allows")
    serve.set_defaults(func=_serve)

    run = sub.add_parser("run", help="run an agent on an experiment config (needs the harness extra)")
    run.add_argument("config", help="an experiment config, e.g. configs/hidden-preference.toml")
    run.add_argument("--dry-run", action="store_true",
                     help="set the experiment up, print the agent's tools and prompt, and stop")
    run.set_defaults(func=_run)

    ls = sub.add_parser("ls", help="list recorded sandboxes")
    ls.add_argument("--all", action="store_true", help="include terminated and failed ones")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_ls)

    stop = sub.add_parser("stop", help="terminate sandboxes")
    stop.add_argument("sandbox_ids", nargs="*")
    stop.add_argument("--all", action="store_true", help="every running sandbox")
    stop.set_defaults(func=_stop)

    config = sub.add_parser("config", help="print the snippet that adds this server to a client")
    config.add_argument("client", choices=["claude-code", "claude-desktop"])
    config.set_defaults(func=_client_config)

    demo = sub.add_parser("demo", help="run a short notebook experiment in a local sandbox, over real MCP")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level)
    try:
        sys.exit(args.func(args))
    except KeyboardInterrupt:
        sys.exit(130)
