"""The bearer token that guards `seer-mcp serve --http`.

Generated once and stored with mode 0600 in the state dir, unless the operator
sets SEER_HTTP_TOKEN. Compared in constant time (`seer_mcp.bearer`).
"""

from __future__ import annotations

import json
import secrets

from fastmcp.server.auth import AccessToken, TokenVerifier
from starlette.types import ASGIApp, Receive, Scope, Send

from seer_mcp.bearer import presented_token, token_matches
from seer_mcp.fileio import write_atomically
from seer_mcp.settings import Settings


def http_token(settings: Settings) -> str:
    """The operator's token, else the stored one, else a new one (then stored)."""
    if settings.http_token:
        return settings.http_token
    path = settings.token_path
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    write_atomically(path, token.encode(), mode=0o600)
    return token


class SingleTokenVerifier(TokenVerifier):
    """Accepts exactly one bearer token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if token_matches(token, self._token):
            return AccessToken(token=token, client_id="seer-operator", scopes=[])
        return None


class BearerRequired:
    """ASGI middleware in front of the MCP endpoint: a request without the right bearer token gets a 401
    whose body says what to send, where the SDK's own would be empty or speak of OAuth re-registration.

    Paths outside `mcp_path` (the web UI, with its own login) pass through untouched.
    """

    def __init__(self, app: ASGIApp, token: str, mcp_path: str = "/mcp", token_hint: str = "") -> None:
        self.app = app
        self._token = token.encode()
        self._path = mcp_path.rstrip("/")
        self._hint = token_hint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == self._path or path.startswith(self._path + "/")):
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization")
        problem = self._problem(header)
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, error, description = problem
        body = json.dumps({"error": error, "error_description": description}).encode()
        challenge = f'Bearer error="{error}"'.encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", challenge)]})
        await send({"type": "http.response.body", "body": body})

    def _problem(self, header: bytes | None) -> tuple[int, str, str] | None:
        send_this = ("send the header 'Authorization: Bearer <token>' with the token that `seer-mcp serve --http` "
                     f"printed when it started{self._hint}")
        if not header:
            return 401, "invalid_token", f"this seer-mcp server needs a bearer token: {send_this}"
        given = presented_token(header)
        if given is None:
            return 401, "invalid_token", f"the Authorization header is not a bearer token: {send_this}"
        if not given.isascii():
            return 400, "invalid_request", f"the bearer token has non-ASCII characters: {send_this}"
        if not token_matches(given, self._token):
            return 401, "invalid_token", f"the bearer token is wrong: {send_this}"
        return None
