#!/usr/bin/env bash
# The whole test suite, slow tests (real kernels, real sandboxes) included.
set -euo pipefail
. "$(dirname "$0")/setup-env.sh"
. "$(dirname "$0")/install-bubblewrap.sh"
# The web UI's tests (tests/ui) drive Debian's chromium through chromedriver. Installed here when
# missing and we may (root, or sudo without a password); if it cannot be, those tests fail and say why.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
    if [ -z "$SUDO" ] || sudo -n true 2>/dev/null; then
      { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
        >/dev/null 2>&1 || echo "test.sh: could not install chromium; the browser tests in tests/ui will fail" >&2
    fi
  fi
fi
# The real MCP clients tests/interop drives (Claude Code, two releases; the MCP Inspector), with npm,
# into .clients/; without npm it says so and those tests fail.
bash scripts/install-clients.sh
exec python -m pytest -q -p no:cacheprovider "$@"
