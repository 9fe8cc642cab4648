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
python -m pip install --quiet -e ".[dev,interop,inspect]"
# The MCP clients that still need the 1.x MCP SDK, which seer-mcp's own (mcp>=2.3) rules out, get a venv of
# their own for tests/interop (which fail without it).
if ! .venv/mcp1/bin/python -c "import langchain_mcp_adapters.tools, mcpadapt.core" 2>/dev/null; then
  { "$PYTHON" -m venv .venv/mcp1 && .venv/mcp1/bin/python -m pip install --quiet "mcp>=1.24,<2" \
      "langchain-mcp-adapters>=0.3,<0.4" "smolagents[mcp]>=1.26,<2"; } \
    || echo "setup-env.sh: no .venv/mcp1; the langchain and smolagents tests in tests/interop will fail" >&2
fi
