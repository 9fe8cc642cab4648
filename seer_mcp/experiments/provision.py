"""Operator mode: what an experiment config sets up before the agent connects.

`seer-mcp serve --experiment CONFIG` creates the config's sandbox, its
session and its interfaces at start, and tells the agent what it has in the
server's instructions. The agent never sees the config or `create_sandbox`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seer_mcp.progress import StepProgress, no_progress
from seer_mcp.experiments.config import INTERFACE_TOOLS, ExperimentConfig
from seer_mcp.manager.facade import SandboxManager


@dataclass
class ProvisionedExperiment:
    config: ExperimentConfig
    sandbox: dict[str, Any]
    session: dict[str, Any] | None = None
    interfaces: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sandbox_id(self) -> str:
        return self.sandbox["sandbox_id"]

    def instructions(self, allowed: set[str]) -> str:
        """What the agent is told it has: the session, its models and libraries, the interfaces' functions."""
        info = self.config.experiment
        parts = [f"seer-mcp experiment {info.name!r}" + (f": {info.description}" if info.description else "."),
                 "Everything is set up already; work with the tools this server lists."]
        if self.session is not None and self.session.get("kind") == "cli" and "execute_code" in allowed:
            parts.append("A shell session is open: execute_code runs a bash command line in it (session_id may be "
                         "left out); the working directory, variables, functions and aliases carry over between "
                         "commands, and every command is saved to a transcript.")
        elif self.session is not None and "execute_code" in allowed:
            parts.append(
                "A Jupyter notebook session is open: execute_code runs a cell (session_id may be left out), "
                "variables persist between cells, plots come back as images, errors with their traceback, and "
                "every cell is saved to the notebook. Use add_markdown for notes and conclusions. "
                "`import toolkit` gives interpretability helpers (help(toolkit.<name>) documents each).")
            if self.session.get("model_info"):
                parts.append("Models loaded in the kernel:\n" + self.session["model_info"])
            if self.session.get("library_docs"):
                parts.append("Libraries every kernel imports:\n" + self.session["library_docs"])
        for served in self.interfaces:
            if served["expose_as"] == "mcp" and INTERFACE_TOOLS in allowed:
                lines = [f"- {f['tool']}: {f['signature']}" + (f" -- {f['doc']}" if f["doc"] else "")
                         for f in served["functions"]]
                parts.append(f"Tools of the interface {served['name']!r}:\n" + "\n".join(lines))
            elif served["expose_as"] == "library":
                lines = [f"- {served['name']}.{f['signature']}" + (f" -- {f['doc']}" if f["doc"] else "")
                         for f in served["functions"]]
                parts.append(f"In the notebook, `import {served['name']}` gives these functions, which run in "
                             "the experiment's sandbox:\n" + "\n".join(lines))
        return "\n\n".join(parts)


async def provision(manager: SandboxManager, config: ExperimentConfig,
                    progress: StepProgress = no_progress) -> ProvisionedExperiment:
    """Creates the config's sandbox, session and interfaces; on any failure, nothing is left running."""
    # The config is the operator's own: its host paths were checked when it loaded.
    sandbox = await manager.create_sandbox(config.sandbox, progress, host_roots=[Path("/")])
    provisioned = ProvisionedExperiment(config, sandbox)
    try:
        if config.session is not None:
            provisioned.session = await manager.start_session(provisioned.sandbox_id, config.session.name,
                                                              config.session.kind)
        for interface in config.interfaces:
            library = interface.expose_as == "library" and provisioned.session is not None
            provisioned.interfaces.append(await manager.interfaces.serve(
                provisioned.sandbox_id, interface.name, host_path=Path(interface.path),
                expose_as=interface.expose_as, session_id=provisioned.session["session_id"] if library else None,
                call_timeout=interface.call_timeout, env=interface.env, trusted=True))
    except BaseException:
        with contextlib.suppress(Exception):
            await manager.terminate_sandbox(provisioned.sandbox_id, detail="setting up the experiment failed")
        raise
    return provisioned
