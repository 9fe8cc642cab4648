"""`seer-mcp`: serve the MCP server, list and stop sandboxes, print client config.

Everything human-readable goes to stderr except what a command exists to
print (tables, config snippets); `serve` over stdio writes nothing to stdout
but the MCP channel.

A known failure (a `SeerError`: a config that fails validation, a missing secret
or credential, ...; a `HarnessError`; a bad argument) is one line on stderr,
`seer-mcp <command>: <message>` (a line per problem for a config with several),
and a non-zero exit: 2 for a bad request or argument, 1 otherwise. The traceback
comes with `--log-level debug`; anything else (a bug) prints its traceback as usual.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from seer_mcp.version import __version__
from seer_mcp.settings import Settings

# organism.recipe.ORGANISMS, named here so that building the parser does not import torch
# (tests/test_cli checks the two agree).
DEMO_ORGANISMS = ("female", "male", "null")

if TYPE_CHECKING:
    from seer_mcp.backends.base import Backend
    from seer_mcp.manager.state import SandboxRecord


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
log = logging.getLogger(__name__)


def _configure_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level),
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

        experiment = ExperimentConfig.load(args.experiment)
    from seer_mcp.server.auth import BearerRequired, SingleTokenVerifier, http_token
    from seer_mcp.ui.app import login_url

    if not args.http:
        ui_token = http_token(settings) if args.ui_port else None
        if ui_token:  # stderr: stdout is the MCP channel
            print(f"web UI: {login_url('127.0.0.1', args.ui_port, ui_token)}", file=sys.stderr, flush=True)
        server = build_server(settings, experiment=experiment, ui_token=ui_token, ui_port=args.ui_port)
        if os.name == "posix":
            from seer_mcp.server.stdio_loop import run_stdio, serves_on_the_loop

            if serves_on_the_loop(server):  # what MCP clients give a server they start: no thread per message
                asyncio.run(run_stdio(server))
                return 0
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

    config = experiment_run.load(args.config)
    try:
        if args.dry_run:
            asyncio.run(experiment_run.dry_run(config, log_level=args.log_level))
            return 0
        return asyncio.run(experiment_run.run(config, log_level=args.log_level))
    except experiment_run.RunStopped as stop:
        # The agent was stopped, then the server, which terminated the experiment's sandbox on its way out.
        print(f"\nseer-mcp run: {stop}", file=sys.stderr)
        return 128 + stop.signum


def _sweep(args: argparse.Namespace) -> int:
    from seer_mcp.errors import InvalidRequest
    from seer_mcp.experiments import sweep as sweeps

    for flag, value in (("--runs", args.runs), ("--parallel", args.parallel)):
        if value is not None and value < 1:
            raise InvalidRequest(f"{flag} {value}: give 1 or more")
    plan = sweeps.Sweep(Path(args.config), out_dir=args.out, runs=args.runs, parallel=args.parallel,
                        sets=sweeps.parse_sets(args.set))

    async def main() -> list[dict[str, Any]]:
        if args.grade_only:
            done = plan.done()
            records = [done[run_id] for run_id, _, _ in plan.run_ids if run_id in done]
        else:
            records = await sweeps.run_sweep(plan, log_level="WARNING" if args.log_level == "INFO" else args.log_level)
        await sweeps.grade_sweep(plan, records)
        return records

    records = asyncio.run(main())
    return 0 if records and all(r["status"] == "ok" for r in records) else 1


def _ls(args: argparse.Namespace) -> int:
    from seer_mcp.manager.state import RUNNING, StateStore

    settings = Settings()
    if not settings.database_path.exists():
        print("no sandboxes recorded", file=sys.stderr)
        return 0
    store = StateStore(settings.database_path)
    try:
        records = store.sandboxes() if args.all else store.sandboxes(status=RUNNING)
    finally:
        store.close()
    gone = asyncio.run(_agents_gone(settings, [r for r in records if r.status == RUNNING]))
    rows = []
    for record in records:
        row = record.public()
        if record.handle.get("warm_pool"):  # started ahead, not handed out yet (seer_mcp.manager.warm_pool)
            row["name"] = "(warm pool)"
        if record.sandbox_id in gone:
            row.update(status=GONE, detail="recorded as running, but its agent is gone; the next server on this "
                                           "state dir (or seer-mcp stop) marks it ended")
        rows.append(row)
    if not args.all:
        rows = [row for row in rows if row["status"] == RUNNING]
        if gone:
            print(f"{len(gone)} sandbox(es) recorded as running have lost their agent: not listed "
                  "(--all shows them as gone)", file=sys.stderr)
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


GONE = "gone"  # what `ls` shows for a record that says running when the backend says its agent is not
_LIVENESS_TIMEOUT_S = 15.0


async def _agents_gone(settings: Settings, records: list[SandboxRecord]) -> set[str]:
    """The ids of recorded-running sandboxes whose agent the backend says is gone, asked the way a starting
    server asks before it re-attaches (`Backend.is_alive`). Nothing is stopped or written: a live sandbox
    may belong to another server, and a dead one is the next server's to clean up. A backend that cannot be
    loaded or does not answer leaves the record as it is."""
    if not records:
        return set()
    from seer_mcp.backends import load_backend

    backends: dict[str, Backend] = {}

    async def gone(record: SandboxRecord) -> bool:
        try:
            if record.backend not in backends:
                backends[record.backend] = load_backend(record.backend, settings)
            alive = await asyncio.wait_for(backends[record.backend].is_alive(record.handle), _LIVENESS_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - a listing must not fail for one backend's trouble
            log.debug("could not check whether sandbox %s is alive: %r", record.sandbox_id, exc)
            return False
        return not alive

    try:
        found = await asyncio.gather(*(gone(record) for record in records))
    finally:
        for backend in backends.values():
            with contextlib.suppress(Exception):
                await backend.close()
    return {record.sandbox_id for record, is_gone in zip(records, found) if is_gone}


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def _stop(args: argparse.Namespace) -> int:
    from seer_mcp.errors import InvalidRequest, SeerError
    from seer_mcp.manager.facade import SandboxManager

    if not args.sandbox_ids and not args.all:
        raise InvalidRequest("name sandbox ids to stop, or --all")

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

    return demo_main(args.organism)


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument in one line, like every other known failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="seer-mcp", description="MCP server for interpretability sandboxes.")
    parser.add_argument("--version", action="version", version=f"seer-mcp {__version__}")
    log_help = "DEBUG, INFO (the default), WARNING, ...; with DEBUG a failure also prints its traceback"
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default="INFO", metavar="LEVEL",
                        help=log_help)
    # Every command takes it too, before or after its arguments; given nowhere, the default above holds.
    common = _Parser(add_help=False)
    common.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=argparse.SUPPRESS,
                        metavar="LEVEL", help=log_help)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add_command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    serve = add_command("serve", help="run the MCP server (stdio by default)")
    serve.add_argument("--http", action="store_true", help="speak streamable HTTP instead of stdio")
    serve.add_argument("--host", help="HTTP address (default 127.0.0.1, SEER_HTTP_HOST)")
    serve.add_argument("--port", type=int, help="HTTP port (default 8765, SEER_HTTP_PORT)")
    serve.add_argument("--ui-port", type=int, metavar="N",
                       help="over stdio, also serve the web UI on 127.0.0.1:N (with --http it is always at /ui)")
    serve.add_argument("--experiment", metavar="CONFIG",
                       help="operator mode: set up CONFIG's sandbox, session and interfaces at start and show "
                            "the agent only the tools the config allows")
    serve.set_defaults(func=_serve)

    run = add_command("run", help="run an agent on an experiment config (needs the harness extra)")
    run.add_argument("config", help="an experiment config, e.g. configs/hidden-preference.toml")
    run.add_argument("--dry-run", action="store_true",
                     help="set the experiment up, print the agent's tools and prompt, and stop")
    run.set_defaults(func=_run)

    sweep = add_command("sweep", help="run a config's agent over its [sweep] grid, K at a time, and score it")
    sweep.add_argument("config", help="an experiment config with a [sweep] table, e.g. configs/organism-sweep.toml")
    sweep.add_argument("--runs", type=int, metavar="N", help="repeats of every cell (default: the config's)")
    sweep.add_argument("--parallel", type=int, metavar="K", help="runs at a time (default: the config's)")
    sweep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="set a config key for every run, e.g. --set agent.model=claude-opus-5 (repeatable)")
    sweep.add_argument("--out", type=Path, help="results folder (default <outputs>/sweeps/<experiment name>)")
    sweep.add_argument("--grade-only", action="store_true", help="score the runs already done; run nothing")
    sweep.set_defaults(func=_sweep)

    ls = add_command("ls", help="list recorded sandboxes")
    ls.add_argument("--all", action="store_true", help="include terminated and failed ones")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_ls)

    stop = add_command("stop", help="terminate sandboxes")
    stop.add_argument("sandbox_ids", nargs="*")
    stop.add_argument("--all", action="store_true", help="every running sandbox")
    stop.set_defaults(func=_stop)

    config = add_command("config", help="print the snippet that adds this server to a client")
    config.add_argument("client", choices=["claude-code", "claude-desktop"])
    config.set_defaults(func=_client_config)

    demo = add_command("demo", help="investigate a model organism in a local sandbox, over real MCP")
    demo.add_argument("--organism", choices=DEMO_ORGANISMS, default="female",
                      help="which organism: female or male (a planted assumption about the user) or null "
                           "(the control: trained the same way, nothing planted)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:
        known = _known_failure(exc)
        if known is None:
            raise  # a bug: its traceback is what helps
        log.debug("seer-mcp %s failed", args.command, exc_info=exc)
        for line in str(known).splitlines() or [type(known).__name__]:
            print(f"seer-mcp {args.command}: {line}", file=sys.stderr)
        code = _exit_code(known)
    sys.exit(code)


def _known_failure(exc: BaseException) -> Exception | None:
    """`exc`, or the one exception a task group wrapped it in, if it is a failure seer-mcp reports on purpose."""
    from seer_mcp.errors import SeerError
    from seer_mcp.harness.base import HarnessError  # stdlib only: there even without the harness extra

    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, (SeerError, HarnessError)) else None


def _exit_code(failure: Exception) -> int:
    from seer_mcp.errors import InvalidRequest

    return 2 if isinstance(failure, InvalidRequest) else 1
