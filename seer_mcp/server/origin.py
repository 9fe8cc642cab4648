"""Host and Origin checks in front of everything seer-mcp serves over HTTP (the MCP endpoint and the web UI).

DNS rebinding: a web page on `evil.example` re-points that name at 127.0.0.1
and has the browser send requests to our port. They arrive with
`Host: evil.example:8765`, so a request whose Host is not the served address
is refused (421). Cross-site requests: a browser names the page that made a
request in `Origin`; one from another address than the one served (another
port included) is refused (403). Clients that are not browsers send no Origin
and pass.

Which Host values are the served address: the bound address and the loopback
names (127.0.0.1, localhost, [::1]), at the served port; bound to 0.0.0.0 or
`::`, any, unless the operator lists the names the server is reached by
(`Settings.http_allowed_hosts`), which are allowed besides. A listed `name`
matches on any port, `name:port` on that port only, `*` anything. A Host or
Origin without a port names port 80 or 443 (behind a TLS proxy, the latter).

fastmcp has a guard of its own (`host_origin_protection`), off by default; we
keep it off and use this one, which also checks the Origin's port on loopback
(a dev server on localhost:3000 is another site) and says what was refused.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")

Address = tuple[str, int | None]  # a hostname in lower case without brackets, and a port when one was given


def is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host == ""


def parse_host(value: str) -> Address | None:
    """A Host header (or an allowed-hosts entry) as an address; None when it is not one."""
    value = value.strip().lower()
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        return None
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    else:  # a name, or a bare IPv6 address as an allowed-hosts entry may give it
        host, port_text = value, None
    if not host or "/" in host or "@" in host:
        return None
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return host, int(port_text)


def _origin_address(origin: str) -> Address | None:
    """The address an Origin header names; None for 'null' and anything else that is not an http(s) origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.hostname.lower(), port


def _show(address: Address) -> str:
    host, port = address
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


class HostOriginGuard:
    """ASGI middleware: refuses a request whose Host is not the served address, or whose Origin is another site.

    `host` and `port` are where the server is bound; `allowed_hosts` the names
    the operator lists (see the module docstring).
    """

    def __init__(self, app: ASGIApp, host: str, port: int, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        allowed_hosts = list(allowed_hosts)
        listed = [entry for entry in allowed_hosts if entry != "*"]
        self._any_host = "*" in allowed_hosts or (is_unspecified(host) and not listed)
        bound = [] if is_unspecified(host) else [host.strip("[]").lower()]
        self._allowed: list[Address] = [(name, port) for name in dict.fromkeys([*bound, *LOOPBACK_NAMES])]
        for entry in listed:
            address = parse_host(entry)
            if address is None:
                raise ValueError(f"allowed host {entry!r} is not a host name, a host:port pair or '*'")
            self._allowed.append(address)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self._problem(headers.get("host"), headers.get("origin"))
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, error, description = problem
        if scope["type"] == "websocket":  # refused before the handshake: uvicorn answers 403
            await send({"type": "websocket.close", "code": 1008, "reason": description[:120]})
            return
        body = json.dumps({"error": error, "error_description": description}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _problem(self, host_header: str | None, origin: str | None) -> tuple[int, str, str] | None:
        address = parse_host(host_header or "")
        if address is None:
            if host_header is None:
                return 421, "invalid_host", "the request has no Host header; send the address you connected to"
            return 421, "invalid_host", f"the Host header {host_header!r} is not a host name or host:port"
        if not self._any_host and not self._host_allowed(address):
            served = ", ".join(_show(a) for a in self._allowed)
            return 421, "invalid_host", (
                f"Host {_show(address)!r} is not an address this seer-mcp server serves ({served}): requests "
                "through other names are refused, against DNS rebinding. An operator who reaches it through "
                "another name lists that name in SEER_HTTP_ALLOWED_HOSTS")
        if origin is None:
            return None  # not a browser's cross-origin request: CLI clients and scripts
        origin_address = _origin_address(origin)
        if origin_address is None or not self._same_address(origin_address, address):
            return 403, "invalid_origin", (
                f"Origin {origin!r} is not this server's own address ({_show(address)}): requests from other "
                "sites' pages are refused")
        return None

    def _host_allowed(self, address: Address) -> bool:
        host, port = address
        return any(host == allowed_host and (allowed_port is None or _port(port) == _port(allowed_port))
                   for allowed_host, allowed_port in self._allowed)

    @staticmethod
    def _same_address(origin: Address, host: Address) -> bool:
        return origin[0] == host[0] and _port(origin[1]) == _port(host[1])


def _port(port: int | None) -> int | None:
    """A port as a Host or Origin header leaves it out: the scheme's default is no port."""
    return None if port in (80, 443) else port
