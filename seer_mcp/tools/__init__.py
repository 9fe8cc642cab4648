"""The MCP surface: tool definitions, argument models, and shaping results into MCP content.

Only this package knows MCP; it asks the manager for everything else.
Which tools there are, and their groups, is `groups`: plain data, importable without fastmcp.
"""
