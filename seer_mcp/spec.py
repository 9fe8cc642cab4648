"""What a sandbox is asked to be: the model `create_sandbox` and configs validate with.

Later capabilities (models, workspace, Modal's images and secrets) add fields
here; backends read only the fields they understand.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from seer_mcp.workspace import WorkspaceSpec

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ModelSpec(BaseModel):
    """One model a sandbox loads."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="A HuggingFace repo id (org/name) or a local directory.")
    revision: str | None = Field(default=None, description="Branch, tag or commit on the Hub.")
    var_name: str = Field(default="model", description="The kernel variable that holds it.")
    hidden: bool = Field(default=False, description="Keep the model's identity from the agent.")
    is_peft: bool = Field(default=False, description="`name` is a PEFT adapter on `base_model`.")
    base_model: str | None = Field(default=None, description="The base model of a PEFT adapter.")
    dtype: str = Field(default="auto", description="torch dtype, e.g. 'bfloat16', or 'auto'.")
    device_map: str | None = Field(default="auto", description="'auto' spreads over GPUs (CPU when none).")
    preload: bool = Field(default=True, description="Load it in every new session.")

    @field_validator("var_name")
    @classmethod
    def _python_name(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"var_name {value!r} is not a Python identifier")
        return value

    @model_validator(mode="after")
    def _peft_needs_base(self) -> "ModelSpec":
        if self.is_peft and not self.base_model:
            raise ValueError("is_peft=True needs base_model: the model the adapter was trained on")
        return self

    @property
    def tokenizer_var(self) -> str:
        return "tokenizer" if self.var_name == "model" else f"{self.var_name}_tokenizer"




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
    models: list[ModelSpec] = Field(default_factory=list, description="Models downloaded, cached and preloaded.")
    workspace: WorkspaceSpec = Field(default_factory=WorkspaceSpec,
                                     description="Libraries, skills and host files for the agent.")

    @model_validator(mode="after")
    def _distinct_variables(self) -> "SandboxSpec":
        names = [m.var_name for m in self.models]
        if len(names) != len(set(names)):
            raise ValueError(f"models need distinct var_name values, got {names}")
        return self

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
