"""The exceptions seer-mcp raises, translated from foreign ones where they arise.

    SeerError
     +-- InvalidRequest          bad arguments: a wrong type, an unknown backend, ...
     |    +-- PathOutsideSandbox a path that leaves the sandbox or an allowed root
     +-- NotFound                an unknown sandbox, session or cell
     +-- SandboxStartError       a backend could not bring a sandbox up
     +-- SandboxUnavailable      a sandbox's agent is gone or not answering
     +-- KernelDead              the session's kernel died; restart_kernel recovers
     +-- BackendNotFound         no backend registered under that name
     +-- InterfaceFailed         an interface file failed to load, or its worker died

Tools turn every `SeerError` into an MCP tool error carrying its message, so
each message says what went wrong and what to do about it.
"""

from __future__ import annotations


class SeerError(Exception):
    """Base of every error seer-mcp raises on purpose."""


class InvalidRequest(SeerError):
    pass


class PathOutsideSandbox(InvalidRequest):
    pass


class NotFound(SeerError):
    pass


class SandboxStartError(SeerError):
    pass


class SandboxUnavailable(SeerError):
    pass


class KernelDead(SeerError):
    pass


class BackendNotFound(SeerError):
    pass


class InterfaceFailed(SeerError):
    pass
