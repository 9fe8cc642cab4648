"""What a sandbox is asked to be: the model `create_sandbox` and configs validate with.

Later capabilities (models, workspace, Modal's images and secrets) add fields
here; backends read only the fields they understand.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class SandboxSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(default="local", description="Where the sandbox runs: 'local' or 'modal'.")
    name: str | None = Field(default=None, description="A label for people; ids stay unique.")
    gpu: str | None = Field(default=None, description="GPU type (Modal), e.g. 'A100'; None for CPU only.")
    gpu_count: int = Field(default=1, ge=1, le=8)
    python_packages: list[str] = Field(default_factory=list,
                                       description="pip requirements installed for this sandbox only.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables for kernels and commands.")
    timeout: float = Field(default=3600, gt=0, description="Seconds the sandbox may live.")
    idle_timeout: float | None = Field(default=None, gt=0,
                                       description="Seconds without use after which it is terminated.")

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError("name must be 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit")
        return value

    @field_validator("env")
    @classmethod
    def _env_keys_are_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise ValueError(f"env key {key!r} is not a valid environment variable name")
        return value
