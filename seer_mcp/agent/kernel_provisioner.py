"""A jupyter_client provisioner that starts kernels through the sandbox's launcher.

jupyter_client's own provisioner starts kernels with Popen and signals them
by host pid; inside a sandbox the launcher starts them and knows them by the
sandbox's pids, so every call that touches the process goes through it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from jupyter_client import AsyncKernelManager
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Any as AnyTrait

from seer_mcp.agent.processes import Processes, SandboxProcess


class LauncherProvisioner(LocalProvisioner):  # type: ignore[misc]
    processes: Any = AnyTrait()
    process: SandboxProcess | None  # type: ignore[assignment]

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        env = dict(kwargs.get("env") or {})
        env.pop("JPY_PARENT_PID", None)  # the agent's pid means nothing inside the sandbox
        self.process = await self.processes.spawn(
            cmd, env=env, cwd=Path(kwargs.get("cwd") or os.getcwd()),
            stdout=kwargs.get("stdout") or "devnull", stderr=kwargs.get("stderr") or "devnull")
        self.pid = self.pgid = self.process.pid
        self.cwd = kwargs.get("cwd")
        return self.connection_info

    async def poll(self) -> int | None:
        return self.process.returncode if self.process else 0

    async def wait(self) -> int | None:
        if self.process is None:
            return 0
        code = await self.process.wait()
        self.process = None
        return code

    async def send_signal(self, signum: int) -> None:
        if self.process is not None:
            self.process.signal_group(signum)

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)


class LauncherKernelManager(AsyncKernelManager):  # type: ignore[misc]
    """Uses the launcher's provisioner for every start and restart of its kernel."""

    processes: Any = AnyTrait()

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        if self.provisioner is None:
            self.provisioner = LauncherProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                                   parent=self, processes=self.processes)
        return await super()._async_pre_start_kernel(**kw)


def kernel_manager(processes: Processes | None, **kwargs: Any) -> AsyncKernelManager:
    if processes is not None and processes.isolated:
        return LauncherKernelManager(processes=processes, **kwargs)
    return AsyncKernelManager(**kwargs)
