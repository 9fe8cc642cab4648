"""Who may see the web UI: whoever holds the server's bearer token.

The login link carries the token once; `/ui/login` trades it for an HttpOnly,
SameSite=Strict cookie and redirects, so the token leaves the address bar. The
cookie holds an HMAC of the token rather than the token, so a leaked cookie is
not an MCP credential. Scripts may send `Authorization: Bearer <token>` instead.
Every comparison is constant-time (`seer_mcp.bearer`).
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

from seer_mcp.bearer import authorization_matches, token_matches

COOKIE = "seer_ui"
_COOKIE_CONTEXT = b"seer-mcp web ui session v1"


class UiAuth:
    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self.session_value = hmac.new(self._token, _COOKIE_CONTEXT, hashlib.sha256).hexdigest()

    def token_ok(self, candidate: str | None) -> bool:
        return token_matches(candidate, self._token)

    def allows(self, request: Request) -> bool:
        """The request carries the session cookie or the bearer token."""
        if token_matches(request.cookies.get(COOKIE), self.session_value):
            return True
        return authorization_matches(request.headers.get("authorization"), self._token)

    @staticmethod
    def same_origin(request: Request) -> bool:
        """A state-changing request came from our own page: an Origin header, when sent, names this host.

        With the SameSite=Strict cookie this shuts out cross-site forms and scripts.
        """
        origin = request.headers.get("origin")
        if origin is None:
            return True  # not a browser's cross-origin request (curl, a script with the bearer token)
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == request.headers.get("host", "")
