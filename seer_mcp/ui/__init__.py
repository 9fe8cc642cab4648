"""The web UI: a live page for sandboxes and notebooks, served by the MCP server itself (see `app`)."""

from seer_mcp.ui.app import UI_PREFIX, WebUI

__all__ = ["UI_PREFIX", "WebUI"]
