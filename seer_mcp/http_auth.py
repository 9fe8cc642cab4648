"""The bearer token that guards `seer-mcp serve --http`.

Generated once and stored with mode 0600 in the state dir, unless the operator
sets SEER_HTTP_TOKEN. Compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets

from fastmcp.server.auth import AccessToken, TokenVerifier

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
        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token=token, client_id="seer-operator", scopes=[])
        return None
