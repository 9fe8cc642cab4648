#!/usr/bin/env bash
# The whole test suite, slow tests (real kernels, real sandboxes) included.
set -euo pipefail
. "$(dirname "$0")/setup-env.sh"
exec python -m pytest -q -p no:cacheprovider "$@"
