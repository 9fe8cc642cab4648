"""Limits in seconds: the bounds on what a call may ask for, and the waits both processes keep.

Upper bounds (`MAX_...`): the longest durations a tool call or an experiment
config may ask for. Each is generous for research (a cell may run a day) and
there so that a mistyped or hostile value (1e12 s) is refused with a message
naming the limit, instead of arming a timer that never fires. Tool arguments
and configs use them as pydantic `le=` bounds; operator settings
(`Settings.cell_timeout`, ...) are the defaults within them.

Shared waits: what the sandbox agent keeps to and the server waits by, across
the process boundary (`seer_mcp.agent` and `seer_mcp.manager.agent_client`
import them both), so the two cannot drift apart. A wait only one side knows
stays in that side's module.
"""

from __future__ import annotations

HOUR = 3600.0
DAY = 24 * HOUR

MAX_CELL_TIMEOUT_S = DAY
"""execute_code / edit_cell `timeout`: one cell."""

MAX_EXEC_TIMEOUT_S = HOUR
"""sandbox_exec `timeout`: one shell command."""

MAX_INTERFACE_CALL_TIMEOUT_S = HOUR
"""serve_interface `call_timeout` and a config's `[[interfaces]] call_timeout`: one call of an interface function."""

MAX_SANDBOX_LIFETIME_S = 7 * DAY
"""create_sandbox `timeout` and `idle_timeout` (and a config's `[sandbox]`); `Settings.max_lifetime` still caps it."""

# ----- waits the server and the sandbox agent share -------------------------------------------

CELL_HEARTBEAT_S = 5.0
"""The agent reports a running cell at least this often, printing or not; a longer silence tells the server it hangs."""

CELL_INTERRUPT_GRACE_S = 10.0
"""A cell past its timeout is interrupted and has this long to unwind before the agent answers; the server waits too."""

KERNEL_READY_TIMEOUT_S = 60.0
"""The agent waits this long for a new or restarted kernel to answer; the server's restart waits for that and more."""

SESSION_SETUP_TIMEOUT_S = HOUR
"""A session's set-up code (its models, init and info code) may run this long; the server waits as long for it."""

INTERFACE_CANCEL_GRACE_S = 5.0
"""A timed-out interface call gets this long to stop before the agent replaces the worker; the server waits past it."""


def seconds_limit(limit: float) -> str:
    """A bound as a person reads it, for descriptions: '24 h', '1 h', '7 days'."""
    if limit > 2 * DAY and limit % DAY == 0:
        return f"{int(limit // DAY)} days"
    if limit >= HOUR and limit % HOUR == 0:
        return f"{int(limit // HOUR)} h"
    return f"{limit:g} s"
