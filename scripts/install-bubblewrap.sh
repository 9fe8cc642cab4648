# Sourced by the README's commands: install bubblewrap (local sandboxes' isolation) where it is
# missing and we may (root, or sudo without a password). Without it, sandboxes run unisolated
# (SEER_ISOLATION=auto warns) and the isolation tests in tests/security fail and say why.
if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
  if [ -z "$SUDO" ] || sudo -n true 2>/dev/null; then
    { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; } \
      >/dev/null 2>&1 || echo "could not install bubblewrap; local sandboxes will not be isolated" >&2
  fi
fi
