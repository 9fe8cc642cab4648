"""The web UI's ASGI app: a live page for sandboxes and notebooks, at `/ui` on the server's own port.

`WebUI.mount` puts it beside `/mcp` on the streamable-HTTP app; `WebUI.serving`
runs it on a port of its own beside a stdio server. Either way the server's
lifespan sets `WebUI.manager`, and every route but the login answers 401 without
the session cookie or the bearer token. The page is static (`static/`, plain JS
shipped in the package); everything it shows comes from the JSON API in `api`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from seer_mcp.errors import InvalidRequest, NotFound, SeerError
from seer_mcp.server.origin import HostOriginGuard
from seer_mcp.ui import api, downloads
from seer_mcp.ui.auth import COOKIE, UiAuth

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from seer_mcp.manager.facade import SandboxManager

log = logging.getLogger(__name__)

UI_PREFIX = "/ui"
_STATIC = Path(__file__).parent / "static"
_ASSETS = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}

# The page runs only its own script; cell images are data: URLs. Even a rendering bug
# cannot run a cell's <script>.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_LOGIN_HINT = """<!doctype html><html><head><meta charset="utf-8"><title>seer-mcp: log in</title></head>
<body><h1>seer-mcp web UI</h1><p>{message} Log in with the link printed when the server started
(<code>web UI: http://&hellip;/ui/login?token=&hellip;</code>), or ask its operator for it.</p></body></html>"""

Handler = Callable[[Request, "SandboxManager"], Any]


def login_url(host: str, port: int, token: str) -> str:
    return f"http://{host}:{port}{UI_PREFIX}/login?token={token}"


class WebUI:
    """The UI app; the server's lifespan sets `manager` while it runs."""

    def __init__(self, token: str) -> None:
        self.auth = UiAuth(token)
        self.manager: SandboxManager | None = None
        get, post = ["GET", "HEAD"], ["POST"]
        routes = [
            Route(UI_PREFIX, self._to_index, methods=get),
            Route(f"{UI_PREFIX}/login", self._login, methods=get),
            Route(f"{UI_PREFIX}/", self._guard(self._index, page=True), methods=get),
            Route(f"{UI_PREFIX}/static/{{name}}", self._guard(self._asset, page=True), methods=get),
            Route(f"{UI_PREFIX}/api/sandboxes", self._guard(api.sandboxes), methods=get),
            Route(f"{UI_PREFIX}/api/snapshots", self._guard(api.snapshots), methods=get),
            Route(f"{UI_PREFIX}/api/events", self._guard(api.events), methods=get),
            Route(f"{UI_PREFIX}/api/sessions/{{session_id}}/notebook", self._guard(api.notebook), methods=get),
            Route(f"{UI_PREFIX}/api/sessions/{{session_id}}/interrupt", self._guard(api.interrupt, mutates=True),
                  methods=post),
            Route(f"{UI_PREFIX}/api/sessions/{{session_id}}/restart", self._guard(api.restart, mutates=True),
                  methods=post),
            Route(f"{UI_PREFIX}/api/sandboxes/{{sandbox_id}}/terminate", self._guard(api.terminate, mutates=True),
                  methods=post),
            Route(f"{UI_PREFIX}/download/{{session_id}}.ipynb", self._guard(downloads.notebook_file), methods=get),
            Route(f"{UI_PREFIX}/download/{{session_id}}/transcript", self._guard(downloads.transcript_file),
                  methods=get),
            Route(f"{UI_PREFIX}/{{rest:path}}", self._guard(_unknown), methods=[*get, *post]),
        ]
        self.app = Starlette(routes=routes)

    # ----- where it is served ------------------------------------------------

    def mount(self, mcp: "FastMCP") -> None:
        """Serves the UI under /ui of the MCP server's HTTP app (the MCP endpoint's own auth is untouched)."""
        for path in (UI_PREFIX, UI_PREFIX + "/{rest:path}"):
            # A Starlette app as a route's endpoint is called as plain ASGI, with the whole path.
            mcp.custom_route(path, methods=["GET", "HEAD", "POST"], include_in_schema=False)(self.app)  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def serving(self, port: int, host: str = "127.0.0.1",
                      allowed_hosts: Sequence[str] = ()) -> AsyncIterator[None]:
        """Runs the UI on its own port in this event loop, e.g. beside a stdio server, while the block runs.

        Requests pass the same Host and Origin checks as `serve --http` (`seer_mcp.server.origin`).
        A port that cannot be bound is logged and the block runs without the UI: the MCP
        channel matters more than the page.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            log.error("web UI not served: cannot listen on %s:%s (%s)", host, port, exc)
            yield
            return
        app = HostOriginGuard(self._standalone(), host=host, port=port, allowed_hosts=allowed_hosts)
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                                timeout_graceful_shutdown=2)
        server = _SignalFreeServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            yield
        finally:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await task
            sock.close()

    def _standalone(self) -> Starlette:
        """The UI alone on a port: / leads to /ui/."""
        return Starlette(routes=[Route("/", self._to_index, methods=["GET", "HEAD"]),
                                 *self.app.routes])

    # ----- pages ---------------------------------------------------------------

    async def _to_index(self, request: Request) -> Response:
        return _secured(RedirectResponse(f"{UI_PREFIX}/", status_code=303))

    async def _login(self, request: Request) -> Response:
        if not self.auth.token_ok(request.query_params.get("token")):
            return _secured(HTMLResponse(_LOGIN_HINT.format(message="That login link is not valid."),
                                         status_code=401))
        response = RedirectResponse(f"{UI_PREFIX}/", status_code=303)  # the token leaves the address bar
        response.set_cookie(COOKIE, self.auth.session_value, httponly=True, samesite="strict", path=UI_PREFIX,
                            secure=request.url.scheme == "https")
        return _secured(response)

    async def _index(self, request: Request, manager: "SandboxManager") -> Response:
        return FileResponse(_STATIC / "index.html", media_type="text/html; charset=utf-8")

    async def _asset(self, request: Request, manager: "SandboxManager") -> Response:
        name = request.path_params["name"]
        if name not in _ASSETS:  # a fixed list: no path ever reaches the filesystem
            raise NotFound(f"no asset {name!r}")
        return FileResponse(_STATIC / name, media_type=_ASSETS[name])

    # ----- the check every route passes ----------------------------------------

    def _guard(self, handler: Handler, page: bool = False,
               mutates: bool = False) -> Callable[[Request], Awaitable[Response]]:
        """Auth, the same-origin check for state changes, a running manager, and errors as status codes."""

        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            if not self.auth.allows(request):
                if page:
                    return _secured(HTMLResponse(_LOGIN_HINT.format(message="You are not logged in."),
                                                 status_code=401))
                return _error(401, "not logged in: open the login link printed when the server started")
            if mutates and not self.auth.same_origin(request):
                return _error(403, "cross-origin request refused")
            manager = self.manager
            if manager is None:
                return _error(503, "the server is starting or stopping")
            try:
                result = handler(request, manager)
                if hasattr(result, "__await__"):
                    result = await result
            except NotFound as exc:
                return _error(404, str(exc))
            except InvalidRequest as exc:
                return _error(400, str(exc))
            except SeerError as exc:
                return _error(502, str(exc))
            except Exception as exc:  # a bad request must never take the server down
                log.exception("web UI: %s failed", request.url.path)
                return _error(500, f"internal error: {type(exc).__name__}")
            return _secured(result if isinstance(result, Response) else JSONResponse(result))

        return endpoint


def _unknown(request: Request, manager: "SandboxManager") -> Response:
    raise NotFound(f"no such page or API: {request.url.path}")


class _SignalFreeServer(uvicorn.Server):
    """Leaves SIGINT and SIGTERM to the MCP server this one runs beside."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


def _secured(response: Response) -> Response:
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _error(status: int, message: str) -> Response:
    return _secured(JSONResponse({"error": message}, status_code=status))

