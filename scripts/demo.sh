#!/usr/bin/env bash
# The main job: a scripted investigation of the model organism, in a local sandbox, over real MCP stdio.
set -euo pipefail
. "$(dirname "$0")/setup-env.sh"
. "$(dirname "$0")/install-bubblewrap.sh"
exec seer-mcp demo "$@"
