"""Everything the server knows about its sandboxes, on the server's side of the wire.

`facade.SandboxManager` is what the MCP tools, the web UI and the Python API hold. Behind it: the
registry of sandboxes and sessions (re-attach, reaper), sessions and cells, the interfaces this
server serves and its snapshots (both hooked into the registry's lifecycle), the SQLite state,
the event bus watchers follow, the scope a bound server may reach, and the client of the sandbox
agent (`agent_client` over `transport`) with the client module interface libraries import.
"""
