"""The MCP server: the FastMCP app and its lifespan (`app`), the HTTP bearer check (`auth`), Host/Origin
checks (`origin`), stdio served on the event loop when both ends are pipes (`stdio_loop`), and
stopping when a stdio client goes (`stdio_stop`)."""
