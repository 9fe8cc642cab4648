"""`python -m seer_mcp` is the `seer-mcp` command."""

from seer_mcp.cli import main

main()
