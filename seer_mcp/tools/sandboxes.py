"""Tools that create, list and terminate sandboxes."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import Context, FastMCP
from pydantic import Field, ValidationError

from seer_mcp.errors import InvalidRequest
from seer_mcp.limits import MAX_SANDBOX_LIFETIME_S, seconds_limit
from seer_mcp.spec import ModelSpec, RepoSpec, SandboxSpec
from seer_mcp.tools.common import manager_of, model_errors, progress_of
from seer_mcp.workspace import WorkspaceSpec


def _spec(**fields: Any) -> SandboxSpec:
    try:
        return SandboxSpec(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors())
        raise InvalidRequest(f"invalid sandbox spec: {problems}") from None


def register(mcp: FastMCP) -> None:
    @mcp.tool(annotations={"title": "Create a sandbox", "destructiveHint": False, "openWorldHint": True})
    @model_errors
    async def create_sandbox(
        ctx: Context,
        backend: Annotated[str | None, Field(description="'local' (default: this machine, no GPU) or 'modal'.")] = None,
        name: Annotated[str | None, Field(description="A short label, e.g. 'probe-run'.")] = None,
        gpu: Annotated[str | None, Field(description="GPU type for GPU backends, e.g. 'A100'.")] = None,
        gpu_count: Annotated[int, Field(ge=1, le=8)] = 1,
        python_packages: Annotated[list[str] | None, Field(
            description="pip requirements this sandbox needs beyond the installed ones.")] = None,
        env: Annotated[dict[str, str] | None, Field(description="Environment variables for its kernels.")] = None,
        timeout: Annotated[float, Field(gt=0, le=MAX_SANDBOX_LIFETIME_S, description=(
            f"Lifetime in seconds, at most {seconds_limit(MAX_SANDBOX_LIFETIME_S)}; the operator's "
            "max_lifetime may cut it shorter."))] = 3600,
        idle_timeout: Annotated[float | None, Field(gt=0, le=MAX_SANDBOX_LIFETIME_S, description=(
            f"Terminate after this many idle seconds, at most {seconds_limit(MAX_SANDBOX_LIFETIME_S)}."))] = None,
        models: Annotated[list[ModelSpec] | None, Field(
            description="HuggingFace models to download, cache and preload in every session "
                        "(as `model`/`tokenizer`, or var_name).")] = None,
        workspace: Annotated[WorkspaceSpec | None, Field(
            description="Libraries (imported in every kernel), skill folders, host files and set-up code.")] = None,
        system_packages: Annotated[list[str] | None, Field(
            description="apt packages for a Modal image (the local backend checks they are installed).")] = None,
        repos: Annotated[list[RepoSpec] | None, Field(
            description="git repos cloned into the workspace, each with an optional install command.")] = None,
        secrets: Annotated[list[str] | None, Field(
            description="Names of secrets for the sandbox's environment, among those the operator allows.")] = None,
        python_version: Annotated[str | None, Field(description="Python of a Modal image, e.g. '3.11'.")] = None,
        debug: Annotated[bool, Field(description="Modal: also give a JupyterLab link (with a token) for a "
                                                 "human to watch.")] = False,
        network: Annotated[bool, Field(description="False: the sandbox gets no network at all (no pip, no "
                                                   "model APIs).")] = True,
        memory: Annotated[int | None, Field(ge=64, le=4_194_304, description="MiB the sandbox's processes may "
                                            "use together; a kernel that goes over is killed and reported "
                                            "dead.")] = None,
    ) -> dict[str, Any]:
        """Create a sandbox: an isolated workspace where notebook kernels and shell commands run.

        Returns its sandbox_id and workspace_path. Next, call start_session(sandbox_id) to get a
        Jupyter kernel, then execute_code to run cells. Terminate it when done.
        """
        manager = manager_of(ctx)
        refused = sorted(set(secrets or []) - set(manager.settings.agent_secrets))
        if refused:
            allowed = ", ".join(manager.settings.agent_secrets) or "none"
            raise InvalidRequest(f"secrets {refused} are not among those the operator lets an agent use "
                                 f"({allowed}); the operator can add names to SEER_AGENT_SECRETS")
        spec = _spec(backend=backend or manager.settings.default_backend, name=name, gpu=gpu,
                     gpu_count=gpu_count, python_packages=python_packages or [], env=env or {},
                     timeout=timeout, idle_timeout=idle_timeout, models=models or [],
                     workspace=workspace or WorkspaceSpec(), system_packages=system_packages or [],
                     repos=repos or [], secrets=secrets or [], python_version=python_version, debug=debug,
                     network=network, memory=memory)
        return await manager.create_sandbox(spec, progress_of(ctx))

    @mcp.resource("seer://sandboxes/{sandbox_id}/library-docs", mime_type="text/markdown",
                  description="The workspace libraries every kernel of a sandbox imports, and its skills.")
    @model_errors
    async def library_docs(sandbox_id: str, ctx: Context) -> str:
        return manager_of(ctx).library_docs(sandbox_id) or "This sandbox has no libraries or skills."

    @mcp.tool(annotations={"title": "List sandboxes", "readOnlyHint": True})
    @model_errors
    async def list_sandboxes(ctx: Context) -> dict[str, Any]:
        """List running sandboxes with their status, age, idle time and open sessions."""
        return {"sandboxes": manager_of(ctx).list_sandboxes()}

    @mcp.tool(annotations={"title": "Terminate a sandbox", "destructiveHint": True, "idempotentHint": True})
    @model_errors
    async def terminate_sandbox(ctx: Context, sandbox_id: str) -> dict[str, Any]:
        """Terminate a sandbox: its kernels and processes stop and its variables are lost.

        Notebooks stay saved in the outputs directory.
        """
        return await manager_of(ctx).terminate_sandbox(sandbox_id)
