"""Messages between the seer-mcp server and a sandbox agent.

Both ends import this module: the agent validates requests with it, the
server's `SandboxAgentClient` builds them and parses the replies. Outputs
travel as nbformat v4 output dicts, exactly as they are stored in the
notebook, so nothing is converted twice.

Cell execution replies are a stream of JSON lines: zero or more
`CellProgress` events while the cell runs, then one `CellResult`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

# "running": the caller's wait ran out and the cell goes on (see seer_mcp.agent.cell_runs).
CellStatus = Literal["ok", "error", "timeout", "dead", "running"]

# The phrase every dead-kernel report carries; tests and agents rely on it.
KERNEL_DIED = "kernel died, state lost"
# Folders of a sandbox's runtime dir that its kernels see (the backend mounts them, the agent fills them).
KERNEL_SOCKETS_DIR = "k"  # the kernels' IPC sockets and the agent's socket for interface clients; read-write
KERNEL_CONNECTIONS_DIR = "kc"  # kernels' connection files, which the agent writes; read-only inside
INTERFACE_SOCKET = "interfaces.sock"  # in KERNEL_SOCKETS_DIR


class ExecuteRequest(BaseModel):
    code: str
    timeout: float | None = Field(default=None, gt=0)
    wait: float | None = Field(default=None, gt=0)  # reply "running" after this long; None: wait for the end


class WaitCellRequest(BaseModel):
    wait: float = Field(gt=0)


class EditCellRequest(ExecuteRequest):
    cell_index: int = Field(ge=0)


class MarkdownRequest(BaseModel):
    content: str


SessionKind = Literal["notebook", "cli"]


class StartSessionRequest(BaseModel):
    name: str | None = None
    kind: SessionKind = "notebook"  # "cli": a persistent shell; the code fields below are for notebooks
    session_id: str | None = None
    model_code: str | None = None  # loads the models; kept out of the notebook unless show_model_code
    show_model_code: bool = False
    init_code: str | None = None  # libraries and the operator's set-up, always kept out of the notebook
    info_code: str | None = None  # run last; its printed output is returned as init_output


class SessionInfo(BaseModel):
    session_id: str
    name: str
    kind: SessionKind = "notebook"
    notebook_path: str  # inside the sandbox; a cli session's transcript
    mirror_path: str | None = None  # on the server host, when the agent writes one
    kernel_status: Literal["idle", "busy", "dead", "starting"] = "idle"
    init_output: str = ""


class ErrorInfo(BaseModel):
    ename: str
    evalue: str
    traceback: list[str] = []


class CellProgress(BaseModel):
    type: Literal["progress"] = "progress"
    elapsed: float
    last_line: str = ""


class CellResult(BaseModel):
    type: Literal["result"] = "result"
    status: CellStatus
    execution_count: int | None = None
    cell_index: int
    outputs: list[dict[str, Any]] = []
    error: ErrorInfo | None = None
    duration: float = 0.0
    message: str = ""  # a human sentence for timeouts, deaths and interrupts
    continued: bool = False  # outputs hold only what an earlier "running" reply did not show
    earlier: str = ""  # what became of a cell that was still running when this one was asked for


class MarkdownResult(BaseModel):
    cell_index: int


class NotebookCell(BaseModel):
    index: int
    cell_type: str
    source: str
    execution_count: int | None = None
    outputs: list[dict[str, Any]] = []


class NotebookPage(BaseModel):
    total_cells: int
    start: int
    cells: list[NotebookCell]
    notebook_path: str


class LifetimeRequest(BaseModel):
    """A sandbox's lifetime set anew: a warm-pool sandbox's clock starts again when it is handed out."""

    expires_at: float


class ExecRequest(BaseModel):
    command: str
    timeout: float = Field(default=60, gt=0)


class ExecResult(BaseModel):
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False


class WriteFileRequest(BaseModel):
    path: str
    content: str


class FileContent(BaseModel):
    path: str
    content: str
    size: int
    truncated: bool = False


class FileEntry(BaseModel):
    name: str
    path: str
    is_dir: bool
    size: int


class FileList(BaseModel):
    path: str
    entries: list[FileEntry]


class AgentHealth(BaseModel):
    status: Literal["ok"] = "ok"
    pid: int
    root: str
    sessions: list[SessionInfo] = []
    kernel_pids: list[int] = []
    cells_running: bool = False  # a cell runs, perhaps with no caller waiting for it
    last_active: float | None = None  # the agent's own idea of its last activity (epoch seconds), when it keeps one


class ErrorKind(StrEnum):
    """What went wrong, as the agent reports it (`AgentError.error`) and both ends read it.

    The server maps each kind to one of its exceptions (`seer_mcp.errors`); an interface
    client in a kernel maps it to one of its own. A kind neither end knows reads as
    `internal`.
    """

    BAD_REQUEST = "bad_request"  # the arguments are wrong: fix them and call again
    NOT_FOUND = "not_found"  # no such session, cell, file or interface function
    OUTSIDE_SANDBOX = "outside_sandbox"  # a path that leaves the workspace
    KERNEL_DEAD = "kernel_dead"  # the session's kernel died; restart_kernel recovers
    INTERFACE_LOAD_FAILED = "interface_load_failed"  # an interface file failed to import
    INTERFACE_DEAD = "interface_dead"  # an interface's worker process is gone
    UNAUTHORIZED = "unauthorized"  # a missing or wrong token
    INTERNAL = "internal"  # a bug in the agent; the message carries the exception


class AgentError(BaseModel):
    """Body of every non-2xx reply from the agent."""

    error: ErrorKind
    message: str


# ----- interfaces -------------------------------------------------------------

ParameterKind = Literal["positional_only", "positional_or_keyword", "var_positional", "keyword_only", "var_keyword"]


class InterfaceParameter(BaseModel):
    """One parameter of an exposed function, as the worker read it from the signature."""

    name: str
    kind: ParameterKind
    annotation: str | None = None  # source text, e.g. "torch.Tensor"; never evaluated on the server
    has_default: bool = False
    default_repr: str | None = None
    # The default as JSON when it is a plain literal; otherwise callers omit the
    # argument and the function's own default applies.
    default_is_literal: bool = False
    default: Any = None


class InterfaceFunction(BaseModel):
    name: str
    doc: str = ""
    signature: str  # e.g. "(text: str, *, layer: int = 3) -> dict"
    parameters: list[InterfaceParameter] = []
    returns: str | None = None
    input_schema: dict[str, Any]  # JSON Schema of the `arguments` object
    thread_safe: bool = False


class InterfaceModel(BaseModel):
    """A sandbox model as an interface worker sees it (`seer_mcp.interface.list_configured_models`)."""

    var_name: str
    name: str
    path: str
    base_path: str | None = None
    is_peft: bool = False
    hidden: bool = False
    # Real names get_model_path accepts; for a hidden model only when the operator serves the file.
    lookup_name: str | None = None
    base_lookup_name: str | None = None


class ServeInterfaceRequest(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,47}$")
    path: str  # inside the workspace
    models: list[InterfaceModel] = []
    env: dict[str, str] = {}  # extra environment for the worker, e.g. which model it serves
    call_timeout: float = Field(default=300.0, gt=0)
    load_timeout: float = Field(default=3600.0, gt=0)


class InterfaceInfo(BaseModel):
    name: str
    path: str
    status: Literal["ready", "dead"]
    functions: list[InterfaceFunction] = []
    pid: int | None = None
    detail: str = ""  # why it is dead
    token: str = ""  # scoped to calling this interface; given to the server only
    call_timeout: float = 300.0


class InterfaceCallRequest(BaseModel):
    arguments: dict[str, Any] = {}
    timeout: float | None = Field(default=None, gt=0)


class InterfaceCallResult(BaseModel):
    """A finished call. Refusals (unknown function, bad arguments, a dead worker) are error replies instead."""

    ok: bool
    result: Any = None
    # exception: the function raised; result: its return value is not JSON; timeout: cancelled
    kind: Literal["exception", "result", "timeout"] | None = None
    error: ErrorInfo | None = None
    duration: float = 0.0
