#!/usr/bin/env bash
# Installs the real MCP clients that tests/interop drives, with npm, into .clients/ (git-ignored), one
# folder per client@version so that two Claude Code releases live side by side:
#   .clients/claude-code@<version>/node_modules/.bin/claude
#   .clients/inspector@<version>/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js
# Idempotent (a folder that is complete is skipped) and quiet. When npm is missing or an install fails it
# says so on stderr, once, and exits 0: scripts/test.sh goes on, and the tests that need the client fail
# with a message naming this script (they are never skipped).
#
# tests/interop/clients.py reads the three NAME=VERSION lines below: keep them as they are.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The newest release (`npm view @anthropic-ai/claude-code version`).
CLAUDE_CODE_NEWEST=2.1.332
# The oldest release we support: it offers only the handshake-era protocol (latest 2025-11-25, no
# server/discover in its binary), like the Claude Code many users still run.
CLAUDE_CODE_OLDEST=2.1.197
# The MCP Inspector (its CLI, `mcp-inspector --cli`).
INSPECTOR=2.12.0

CLIENTS_DIR=${SEER_CLIENTS_DIR:-.clients}

say() { echo "install-clients.sh: $*" >&2; }

if ! command -v npm >/dev/null 2>&1; then
  say "npm not found: the interop tests (tests/interop) that drive Claude Code and the MCP Inspector will fail; install Node.js and npm, then run scripts/install-clients.sh"
  exit 0
fi

failed=0
# install FOLDER PACKAGE VERSION CHECK...: npm-installs PACKAGE@VERSION into CLIENTS_DIR/FOLDER unless a
# completed install is there; CHECK (a command run in that folder) must succeed for it to count.
install() {
  local folder=$1 package=$2 version=$3
  shift 3
  local dir="$CLIENTS_DIR/$folder@$version"
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$package@$version" ]; then
    return 0
  fi
  local tmp="$dir.partial"
  rm -rf "$tmp" && mkdir -p "$tmp" || { say "cannot create $tmp"; failed=1; return 0; }
  # A package.json of its own, so npm installs here and not into a parent project.
  echo '{"private": true}' >"$tmp/package.json"
  local log="$tmp/npm.log"
  # Retries kept short: an unreachable registry fails in seconds, not minutes.
  if ! (cd "$tmp" && npm install --no-audit --no-fund --no-save --no-package-lock --loglevel=error \
          --fetch-retries=2 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=10000 \
          "$package@$version") >"$log" 2>&1; then
    say "npm could not install $package@$version (its output: $log)"
    failed=1
    return 0
  fi
  if ! (cd "$tmp" && "$@") >>"$log" 2>&1; then
    say "$package@$version installed but does not run (its output: $log)"
    failed=1
    return 0
  fi
  echo "$package@$version" >"$tmp/.installed"
  rm -rf "$dir" && mv "$tmp" "$dir"
}

for version in "$CLAUDE_CODE_NEWEST" "$CLAUDE_CODE_OLDEST"; do
  install claude-code @anthropic-ai/claude-code "$version" node_modules/.bin/claude --version
done
install inspector @modelcontextprotocol/inspector "$INSPECTOR" \
  node node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js --cli --version

if [ "$failed" != 0 ]; then
  say "the interop tests (tests/interop) that need the clients above will fail"
fi
exit 0
