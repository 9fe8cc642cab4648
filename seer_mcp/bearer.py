"""Bearer tokens: whether what a request presents is the token expected.

One check for every door that takes a token: the MCP endpoint of `serve --http`
(`seer_mcp.server.auth`), the web UI (`seer_mcp.ui.auth`) and the sandbox agent
(`seer_mcp.agent.auth`). Comparisons are constant-time, over bytes, so a token
with non-ASCII characters is simply wrong, never an exception. The scheme of an
`Authorization` value is read in any case (RFC 9110 §11.1), and nothing here
decodes or copies more than the header's two halves: the agent runs it on every
request.
"""

from __future__ import annotations

import hmac

__all__ = ["authorization_matches", "presented_token", "token_matches"]

_SCHEME = b"bearer"


def _as_bytes(value: str | bytes) -> bytes:
    # surrogatepass: a str that came from anywhere still encodes, and then compares unequal.
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def presented_token(authorization: str | bytes | None) -> bytes | None:
    """The token of an `Authorization` header value `Bearer <token>`; None for no header, another scheme, no token."""
    if not authorization:
        return None
    scheme, _, token = _as_bytes(authorization).partition(b" ")
    if scheme.lower() != _SCHEME:
        return None
    return token.strip() or None


def token_matches(presented: str | bytes | None, expected: str | bytes) -> bool:
    """Whether `presented` is exactly `expected`, compared in constant time; a missing or empty one never is."""
    if not presented:
        return False
    return hmac.compare_digest(_as_bytes(presented), _as_bytes(expected))


def authorization_matches(authorization: str | bytes | None, expected: str | bytes) -> bool:
    """Whether an `Authorization` header value is `Bearer <expected>` (the scheme in any case)."""
    return token_matches(presented_token(authorization), expected)
