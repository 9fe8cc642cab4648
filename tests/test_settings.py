"""Settings come from SEER_* variables, a .env file and a TOML file, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from seer_mcp.settings import Settings


def test_defaults_are_sensible(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEER_CONFIG_FILE", raising=False)
    settings = Settings(_env_file=None)
    assert settings.default_backend == "local"
    assert settings.output_budget == 10_000
    assert settings.image_max_px == 1024
    assert settings.outputs_dir == tmp_path / "seer-outputs"


def test_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {"SEER_STATE_DIR": str(tmp_path / "s"), "SEER_OUTPUTS_DIR": str(tmp_path / "o"),
                        "SEER_DEFAULT_BACKEND": "modal", "SEER_OUTPUT_BUDGET": "5000",
                        "SEER_IMAGE_MAX_PX": "512", "SEER_CELL_TIMEOUT": "30",
                        "SEER_IDLE_TIMEOUT": "900", "SEER_MAX_LIFETIME": "7200"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.state_dir == tmp_path / "s" and settings.outputs_dir == tmp_path / "o"
    assert settings.default_backend == "modal"
    assert (settings.output_budget, settings.image_max_px) == (5000, 512)
    assert (settings.cell_timeout, settings.idle_timeout, settings.max_lifetime) == (30, 900, 7200)


def test_a_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SEER_OUTPUT_BUDGET=2500\n")
    assert Settings().output_budget == 2500


def test_a_toml_file_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "seer.toml"
    config.write_text('output_budget = 3000\ncell_timeout = 12\ndefault_backend = "local"\n')
    monkeypatch.setenv("SEER_CONFIG_FILE", str(config))
    monkeypatch.setenv("SEER_CELL_TIMEOUT", "99")
    settings = Settings(_env_file=None)
    assert settings.output_budget == 3000
    assert settings.cell_timeout == 99


def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEER_OUTPUT_BUDGET", "lots")
    with pytest.raises(ValueError, match="output_budget"):
        Settings(_env_file=None)
