"""What a sandbox is asked to be: the model `create_sandbox` and configs validate with.

Later capabilities (models, workspace, Modal's images and secrets) add fields
here; backends read only the fields they understand.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from seer_mcp.limits import MAX_SANDBOX_LIFETIME_S
from seer_mcp.workspace import WorkspaceSpec

# Matched with fullmatch: `$` would also match before a trailing newline, and let "name\n" through.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN = re.compile(r"[A-Za-z0-9_.-]+")


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
        if not _IDENTIFIER.fullmatch(value):
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




GPU_TYPES = ("T4", "L4", "A10G", "L40S", "A100", "A100-40GB", "A100-80GB", "H100", "H200", "B200")


class RepoSpec(BaseModel):
    """A git repository cloned into the workspace when the sandbox is built."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="'org/name' on GitHub, or a full git URL.")
    name: str | None = Field(default=None, description="Folder under the workspace; default: the repo's name.")
    install: str | None = Field(default=None, description="Run in the clone after cloning, e.g. 'pip install -e .'.")
    dockerfile: str | None = Field(default=None, description="A host Dockerfile to build the image from (Modal).")

    @property
    def clone_url(self) -> str:
        if re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", self.url):
            return f"https://github.com/{self.url}.git"
        return self.url

    @property
    def folder(self) -> str:
        return self.name or self.url.rstrip("/").split("/")[-1].removesuffix(".git")

    @model_validator(mode="after")
    def _safe_folder(self) -> "RepoSpec":
        if not _PLAIN.fullmatch(self.folder) or self.folder in (".", ".."):
            raise ValueError(f"repo folder {self.folder!r} must be a plain folder name; set name")
        return self


class SandboxSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(default="local", description="Where the sandbox runs: 'local' or 'modal'.")
    name: str | None = Field(default=None, description="A label for people; ids stay unique.")
    gpu: str | None = Field(default=None, description="GPU type (Modal), e.g. 'A100'; None for CPU only.")
    gpu_count: int = Field(default=1, ge=1, le=8)
    python_packages: list[str] = Field(default_factory=list,
                                       description="pip requirements installed for this sandbox only.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables for kernels and commands.")
    timeout: float = Field(default=3600, gt=0, le=MAX_SANDBOX_LIFETIME_S,
                           description="Seconds the sandbox may live.")
    idle_timeout: float | None = Field(default=None, gt=0, le=MAX_SANDBOX_LIFETIME_S,
                                       description="Seconds without use after which it is terminated.")
    models: list[ModelSpec] = Field(default_factory=list, description="Models downloaded, cached and preloaded.")
    system_packages: list[str] = Field(default_factory=list, description="apt packages (Modal images; checked "
                                                                         "as installed on the local backend).")
    repos: list[RepoSpec] = Field(default_factory=list, description="git repos cloned into the workspace.")
    secrets: list[str] = Field(default_factory=list, description="Names of secrets for the sandbox's environment: "
                                                                 "Modal secrets, or variables of the operator's "
                                                                 "environment / .env.")
    python_version: str | None = Field(default=None, description="Python of a Modal image, e.g. '3.11'; "
                                                                 "default: the server's.")
    network: bool = Field(default=True, description="False gives the sandbox no network at all (local: its own "
                                                    "network namespace; Modal: block_network).")
    memory: int | None = Field(default=None, ge=64, le=4_194_304,
                               description="MiB of memory the sandbox's processes may use together; a kernel "
                                           "that goes over is killed and reported dead.")
    debug: bool = Field(default=False, description="Modal: also serve JupyterLab behind a token, for a human.")
    workspace: WorkspaceSpec = Field(default_factory=WorkspaceSpec,
                                     description="Libraries, skills and host files for the agent.")

    @model_validator(mode="after")
    def _distinct_variables(self) -> "SandboxSpec":
        names = [m.var_name for m in self.models]
        if len(names) != len(set(names)):
            # Seer loaded such models into one variable, the last replacing the others: refused here.
            raise ValueError(f"models need distinct var_name values, got {names}: give each model its own, "
                             "e.g. var_name=\"adapter\" (its tokenizer is then adapter_tokenizer)")
        return self

    @field_validator("gpu")
    @classmethod
    def _known_gpu(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in GPU_TYPES:
            raise ValueError(f"unknown gpu {value!r}; choose one of {', '.join(GPU_TYPES)}, or none for CPU")
        return value.upper() if value is not None else None

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _PLAIN.fullmatch(name):
                raise ValueError(f"secret name {name!r} may only hold letters, digits, '_', '.' and '-'")
        return value

    @field_validator("python_version")
    @classmethod
    def _python_version(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"3\.\d{1,2}", value):
            raise ValueError(f"python_version {value!r} must look like '3.11'")
        return value

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.fullmatch(value):
            raise ValueError(f"name {value!r} must be 1-63 letters, digits, '_', '.' or '-', "
                             "starting with a letter or digit")
        return value

    @field_validator("env")
    @classmethod
    def _env_keys_are_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _IDENTIFIER.fullmatch(key):
                raise ValueError(f"env key {key!r} is not a valid environment variable name")
        return value
