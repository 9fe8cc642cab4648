#!/usr/bin/env bash
# The main job: a notebook experiment in a local sandbox, driven over real MCP stdio.
set -euo pipefail
. "$(dirname "$0")/setup-env.sh"
exec seer-mcp demo
