"""How an exception a route lets out becomes the agent's typed error reply (`wire.AgentError`)."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.responses import JSONResponse

from seer_mcp.agent import files
from seer_mcp.agent.interfaces import InterfaceDeadError, InterfaceLoadError
from seer_mcp.agent.kernels import KernelDeadError
from seer_mcp.wire import AgentError, ErrorKind

log = logging.getLogger(__name__)

# Each exception the handlers let out, as (status, kind); the first match wins, so a subclass comes before its base.
ERRORS: list[tuple[type[BaseException], int, ErrorKind]] = [
    (InterfaceLoadError, 422, ErrorKind.INTERFACE_LOAD_FAILED),
    (InterfaceDeadError, 409, ErrorKind.INTERFACE_DEAD),
    (files.PathOutsideSandbox, 403, ErrorKind.OUTSIDE_SANDBOX),  # a ValueError
    (IndexError, 400, ErrorKind.BAD_REQUEST),  # a LookupError: an index past the end is a wrong argument
    (LookupError, 404, ErrorKind.NOT_FOUND),
    (FileNotFoundError, 404, ErrorKind.NOT_FOUND),  # an OSError
    (KernelDeadError, 409, ErrorKind.KERNEL_DEAD),
    (ValueError, 400, ErrorKind.BAD_REQUEST),
    (OSError, 400, ErrorKind.BAD_REQUEST),
]


def error_response(exc: BaseException) -> JSONResponse:
    if isinstance(exc, ValidationError):
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error_reply(422, ErrorKind.BAD_REQUEST, detail)
    for raised, status, kind in ERRORS:
        if isinstance(exc, raised):
            message = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)
            return error_reply(status, kind, message)
    log.exception("unexpected agent error", exc_info=exc)
    return error_reply(500, ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}")


def error_reply(status: int, kind: ErrorKind, message: str) -> JSONResponse:
    return JSONResponse(AgentError(error=kind, message=message).model_dump(mode="json"), status_code=status)
