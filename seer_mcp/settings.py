"""Operator settings: one class, read from `SEER_*` variables, `.env`, and a TOML file.

Precedence, highest first: arguments passed in code, environment variables,
`.env` in the working directory, the TOML file (`SEER_CONFIG_FILE`, else
`~/.config/seer-mcp/config.toml` when it exists), then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "seer-mcp"


def _config_file() -> Path | None:
    explicit = os.environ.get("SEER_CONFIG_FILE")
    if explicit:
        return Path(explicit).expanduser()
    default = Path.home() / ".config" / "seer-mcp" / "config.toml"
    return default if default.exists() else None


class Settings(BaseSettings):
    """Every knob an operator can turn. Field docs are the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="SEER_", env_file=".env", extra="ignore")

    state_dir: Path = Field(default_factory=_default_state_dir,
                            description="SQLite state, sandbox directories, the HTTP token.")
    outputs_dir: Path = Field(default=Path("seer-outputs"),
                              description="Mirrored notebooks and transcripts, one folder per sandbox.")
    default_backend: str = Field(default="local", description="Backend used when create_sandbox names none "
                                                              "(a Python API script's config that asks for a GPU "
                                                              "it cannot give goes to 'modal').")
    local_secrets: dict[str, list[str]] = Field(
        default_factory=lambda: {"huggingface-secret": ["HF_TOKEN"]},
        description="What a Modal secret's name means on the local backend: the environment variables it "
                    "stands for (JSON object). A name not listed is one variable of that name.")
    output_budget: int = Field(default=10_000, ge=200,
                               description="Characters of cell or command output shown to the agent (head + tail).")
    image_max_px: int = Field(default=1024, ge=16,
                              description="Images returned to the agent are downscaled to this long side.")
    cell_timeout: float = Field(default=600, gt=0, description="Seconds before a cell is interrupted.")
    result_wait: float = Field(default=25, gt=0, le=3600,
                               description="Seconds a tool call waits for its cell before it answers `running` "
                                           "(the cell goes on; wait_cell shows the rest). Keep it under the "
                                           "client's own tool-call timeout.")
    result_wait_by_client: dict[str, float] = Field(
        default_factory=lambda: {"mcp": 4.0},
        description="Shorter waits for clients that give up sooner, by the name they send at initialize (JSON "
                    "object). 'mcp' is the MCP Python SDK's default name, which openai-agents sends: its tool "
                    "calls time out after 5 s.")
    interface_call_timeout: float = Field(default=300, gt=0,
                                          description="Seconds before an interface call is cancelled.")
    interface_load_timeout: float = Field(default=3600, gt=0,
                                          description="Seconds an interface file may take to load (its models).")
    idle_timeout: float | None = Field(default=1800, gt=0,
                                       description="Seconds a sandbox may sit unused before it ends (kept by the "
                                                   "sandbox itself, with or without a server running).")
    max_lifetime: float = Field(default=24 * 3600, gt=0,
                                description="Seconds after which any sandbox is terminated.")
    warm_sandboxes: int = Field(default=0, ge=0, le=32,
                                description="Local sandboxes of the default spec kept started ahead, each with a "
                                            "kernel ready: create_sandbox with that spec takes one at once.")
    sandbox_start_timeout: float = Field(default=120, gt=0,
                                         description="Seconds to wait for a sandbox agent to come up.")
    http_host: str = Field(default="127.0.0.1", description="Address for `serve --http`.")
    http_port: int = Field(default=8765, description="Port for `serve --http`.")
    http_token: str | None = Field(default=None,
                                   description="Bearer token for HTTP; generated and stored 0600 when unset.")
    http_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Names an HTTP request's Host may give besides the served address and loopback (JSON list "
                    "of 'name', 'name:port' or '*'), e.g. a reverse proxy's. Served on 0.0.0.0, any Host passes "
                    "until this lists one. Others are refused, against DNS rebinding.")
    allowed_host_roots: list[Path] = Field(
        default_factory=lambda: [Path.cwd()],
        description="Host folders whose files a sandbox's workspace may copy in (JSON list); default: the "
                    "server's working directory.")
    modal_app: str = Field(default="seer-mcp", description="The Modal app that holds this server's sandboxes.")
    modal_root: str = Field(default="/", description="Root of the filesystem inside Modal containers (tests "
                                                     "point it elsewhere; '{sandbox_id}' is filled in).")
    modal_start_timeout: float = Field(default=900, gt=0,
                                       description="Seconds for a Modal sandbox (image build included) to come up.")
    agent_secrets: list[str] = Field(default_factory=list,
                                     description="Secrets an agent may name in create_sandbox (JSON list); "
                                                 "configs may name any.")
    isolation: Literal["auto", "namespaces", "none"] = Field(
        default="auto", description="Local sandboxes: 'namespaces' (bubblewrap; refuse without it), 'auto' "
                                    "(namespaces where bubblewrap works, else none with a warning) or 'none'.")
    bwrap: str = Field(default="bwrap", description="The bubblewrap executable local sandboxes run in.")
    allow_hidden_without_isolation: bool = Field(
        default=False, description="Let a local sandbox without isolation load hidden models (its code could "
                                   "then find their names).")
    sandbox_env_passthrough: list[str] = Field(
        default_factory=list, description="Names of server environment variables every local sandbox also gets "
                                          "(beyond locale, proxies, CA bundles and GPU selection).")
    terminate_on_exit: bool = Field(default=False,
                                    description="Terminate this server's local sandboxes when it stops (stdin "
                                                "closed, SIGINT or SIGTERM; not kill -9). Off: they live on to "
                                                "their idle timeout, and the next server re-attaches to them.")

    @field_validator("http_allowed_hosts", mode="after")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        from seer_mcp.server.origin import parse_host

        bad = [entry for entry in value if entry != "*" and parse_host(entry) is None]
        if bad:
            raise ValueError(f"{bad} are not host names, host:port pairs or '*'")
        return value

    @field_validator("state_dir", "outputs_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[Any] = [init_settings, env_settings, dotenv_settings]
        toml_file = _config_file()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def sandboxes_dir(self) -> Path:
        return self.state_dir / "sandboxes"

    @property
    def database_path(self) -> Path:
        return self.state_dir / "state.sqlite"

    @property
    def token_path(self) -> Path:
        return self.state_dir / "http-token"
