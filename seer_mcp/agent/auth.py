"""Who may call a sandbox agent: the holder of the sandbox's token, or of one interface's token for that
interface's calls only. Requests that count as activity also move the sandbox's idle clock here."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from seer_mcp.agent.replies import error_reply
from seer_mcp.bearer import presented_token, token_matches
from seer_mcp.wire import ErrorKind

if TYPE_CHECKING:
    from seer_mcp.agent.state import AgentState

_INTERFACE_CALL = re.compile(r"^/interfaces/([A-Za-z_][A-Za-z0-9_]*)/call/[^/]+$")


class BearerAuth:
    """Rejects every request that lacks the sandbox's token.

    An interface's own token opens that interface's call endpoint and nothing
    else: it is what a generated client library carries.
    """

    def __init__(self, app: ASGIApp, token: str, agent: "AgentState") -> None:
        self.app = app
        self.token = token.encode()
        self.interfaces = agent.interfaces
        self.agent = agent

    def _allows(self, path: str, authorization: bytes | None) -> bool:
        given = presented_token(authorization)
        if given is None:
            return False
        if token_matches(given, self.token):
            return True
        match = _INTERFACE_CALL.match(path)
        return bool(match and self.interfaces.token_allows(match.group(1), given))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if not self._allows(scope["path"], dict(scope["headers"]).get(b"authorization")):
                refusal = error_reply(401, ErrorKind.UNAUTHORIZED, "missing or wrong sandbox token")
                await refusal(scope, receive, send)
                return
            limits = self.agent.limits
            if limits is not None and not _PASSIVE.match(scope["path"]):
                limits.begin()
                try:
                    await self.app(scope, receive, send)
                finally:
                    limits.end()
                return
        await self.app(scope, receive, send)


# Requests that only look, and so do not keep a sandbox from its idle limit.
_PASSIVE = re.compile(r"^/(health|sessions/[^/]+/notebook\.ipynb)$")
