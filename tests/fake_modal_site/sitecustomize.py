"""Test-only: a Python started with this folder on PYTHONPATH and SEER_TEST_FAKE_MODAL=<dir> set hands
the Modal backend `tests/fake_modal` in place of the `modal` SDK. For servers a test cannot patch in
process, such as the `seer-mcp serve` subprocesses of a sweep. (The fake's containers never see the
variable: it starts with SEER_, which the fake strips from their environment.)"""

import os
import sys
from pathlib import Path

_root = os.environ.get("SEER_TEST_FAKE_MODAL")
if _root:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for `tests.fake_modal`
    from seer_mcp.backends import modal_backend
    from tests import fake_modal

    fake_modal.reset(Path(_root) / str(os.getpid()))
    modal_backend.load_sdk = lambda: fake_modal
