"""Finding backends by entry point, and what a missing one says to install."""

from __future__ import annotations

import re
import sys
from importlib.metadata import EntryPoint, EntryPoints, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import seer_mcp.backends as backends
import seer_mcp.backends.modal_backend as modal_backend
from seer_mcp.backends import GROUP, available_backends, backend_class, load_backend
from seer_mcp.backends.local import LocalBackend
from seer_mcp.errors import BackendNotFound, SandboxStartError
from seer_mcp.settings import Settings


def only(*entries: EntryPoint) -> object:
    """An `entry_points` that knows these entries only."""
    return lambda group: EntryPoints(entries) if group == GROUP else EntryPoints(())


def seer_mcp_requirements() -> list[Requirement]:
    return [Requirement(line) for line in requires("seer-mcp") or [] if "extra ==" not in line]


def test_the_built_in_backends_register_like_a_third_partys() -> None:
    assert {"local", "modal"} <= set(available_backends())
    assert backend_class("local") is LocalBackend
    assert isinstance(load_backend("local", Settings(_env_file=None)), LocalBackend)


def test_an_unknown_backend_names_the_available_ones_and_what_registers_one() -> None:
    with pytest.raises(BackendNotFound) as raised:
        load_backend("mainframe", Settings(_env_file=None))
    message = str(raised.value)
    assert "unknown backend 'mainframe'; available: " in message and "local" in message
    assert "registers 'mainframe' in the 'seer_mcp.backends' entry point group" in message


def test_a_built_in_backend_missing_from_the_entry_points_says_to_reinstall_seer_mcp(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "entry_points",
                        only(EntryPoint("local", "seer_mcp.backends.local:LocalBackend", GROUP)))
    with pytest.raises(BackendNotFound, match=r"unknown backend 'modal'; available: local\. To use it: reinstall "
                                              r"seer-mcp so its entry points are registered"):
        backend_class("modal")


def test_a_backend_that_needs_the_modal_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    (tmp_path / "needs_modal.py").write_text("import modal\n\nclass NeedsModal:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "modal", None)  # `import modal` fails as if it were not installed
    monkeypatch.setattr(backends, "entry_points", only(EntryPoint("cloud", "needs_modal:NeedsModal", GROUP)))
    with pytest.raises(BackendNotFound) as raised:
        backend_class("cloud")
    message = str(raised.value)
    assert message.startswith("backend 'cloud' could not be imported (")
    assert "pip install 'modal>=1.0', then run `modal token new`" in message
    assert "seer-mcp[" not in message  # seer-mcp has no modal extra: modal is one of its own dependencies


def test_the_modal_version_the_hints_name_is_the_one_seer_mcp_requires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "modal", None)
    with pytest.raises(SandboxStartError) as raised:
        modal_backend.load_sdk()
    [named] = re.findall(r"pip install '([^']+)'", str(raised.value))
    assert "modal token new" in str(raised.value)
    assert str(Requirement(named)) in {str(r) for r in seer_mcp_requirements()}


def test_a_backend_whose_module_imports_something_missing_names_it(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    (tmp_path / "needs_other.py").write_text("import no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(backends, "entry_points", only(EntryPoint("other", "needs_other:Backend", GROUP)))
    with pytest.raises(BackendNotFound, match=r"it imports 'no_such_module_xyz', which is missing: install what "
                                              r"provides it, or reinstall the package that provides needs_other"):
        backend_class("other")


def test_the_packages_public_names_exist() -> None:
    assert all(hasattr(backends, name) for name in backends.__all__)
