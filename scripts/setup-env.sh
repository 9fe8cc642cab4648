# Sourced by the README's commands: make .venv with seer-mcp installed, then activate it.
# torch goes in first: 2.13.0 (CPU) when the index has it, else any release in the supported range.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
# shellcheck disable=SC1091
. .venv/bin/activate
if ! python -c "import torch" 2>/dev/null; then
  python -m pip install --quiet "torch==2.13.0" || python -m pip install --quiet "torch>=2.3,<3"
fi
python -m pip install --quiet -e ".[dev]"
