"""The MCP server: the FastMCP app and its lifespan (`app`), the HTTP bearer check (`auth`), Host/Origin
checks (`origin`), and stopping when a stdio client goes (`stdio_stop`)."""
