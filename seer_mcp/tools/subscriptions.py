"""Tool-list changes for clients of both protocol eras.

Handshake-era clients (2025-11-25) get `notifications/tools/list_changed` on the
session that made the change. At 2026-07-28 there is no standing stream: a client
opens a `subscriptions/listen` request whose response is the stream, and only
servers that serve it may say `tools.listChanged`. FastMCP does not serve it, so a
newest Claude Code never saw an interface's tools appear. This serves it with the
MCP SDK's own handler and bus.
"""

from __future__ import annotations

import logging

import mcp_types
from fastmcp import Context, FastMCP
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared.subscriptions import ToolsListChanged

log = logging.getLogger(__name__)

_BUS_ATTRIBUTE = "_seer_subscriptions"


def serve_subscriptions(mcp: FastMCP) -> None:
    """Serves `subscriptions/listen` on `mcp`, so 2026-07-28 clients learn of tool-list changes."""
    bus = InMemorySubscriptionBus()
    setattr(mcp, _BUS_ATTRIBUTE, bus)
    mcp._mcp_server.add_request_handler("subscriptions/listen", mcp_types.SubscriptionsListenRequestParams,
                                        ListenHandler(bus))


async def announce_tools_changed(ctx: Context) -> None:
    """Tells every client that the tool list changed, on the channel its protocol era listens on."""
    bus: InMemorySubscriptionBus | None = getattr(ctx.fastmcp, _BUS_ATTRIBUTE, None)
    try:
        if bus is not None:
            await bus.publish(ToolsListChanged())
        await ctx.send_notification(mcp_types.ToolListChangedNotification())
    except Exception:  # a client that went away must not fail the change itself
        log.debug("tools/list_changed not delivered", exc_info=True)
