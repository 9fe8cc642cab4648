"""A bound server's resources: those of its scope, and nothing of anyone else's.

The tool modules register resource templates (`seer://sandboxes/{sandbox_id}/library-docs`,
...). A bound server serves each as the one resource its scope has, the template
filled in with the bound id, and drops the template, so listing shows only the
scope's resources and reading any other URI is refused with a message saying why.
A template whose parameters are not the scope's session or sandbox id is dropped
too: a new one does not reach a bound server by accident.
"""

from __future__ import annotations

from typing import Any

import mcp_types
from fastmcp import FastMCP
from fastmcp.exceptions import ResourceError
from fastmcp.resources.template import expand_uri_template
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext

from seer_mcp.manager.scope import Scope


async def bind_resources(mcp: FastMCP, scope: Scope) -> None:
    """Replaces `mcp`'s resource templates with the resources of `scope` (idempotent: a second run finds none)."""
    ids = {"session_id": scope.session_id, "sandbox_id": scope.sandbox_id}
    for template in await mcp.local_provider.list_resource_templates():
        mcp.local_provider.remove_template(template.uri_template)
        params = set(template.parameters.get("properties", {}))
        if not params <= ids.keys() or not all(ids[p] for p in params):
            continue
        values = {p: ids[p] for p in params}
        mcp.add_resource(await template.create_resource(expand_uri_template(template.uri_template, values), values))


class ScopedResources(Middleware):
    """Reading a resource a bound server does not serve says why, instead of only "not found"."""

    def __init__(self, mcp: FastMCP, scope: Scope) -> None:
        self._mcp = mcp
        self.scope = scope

    async def on_read_resource(self, context: MiddlewareContext[mcp_types.ReadResourceRequestParams],
                               call_next: CallNext[mcp_types.ReadResourceRequestParams, Any]) -> Any:
        uri = str(context.message.uri)
        served = {str(r.uri) for r in await self._mcp.list_resources(run_middleware=False)}
        if uri not in served:
            raise ResourceError(f"{uri} is out of this server's reach: it is bound to {self.scope} and serves only "
                                f"its resources ({', '.join(sorted(served)) or 'none'}; resources/list shows them)")
        return await call_next(context)
