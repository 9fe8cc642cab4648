"""The longest durations a tool call or an experiment config may ask for, in seconds.

Each bound is generous for research (a cell may run a day) and there so that a
mistyped or hostile value (1e12 s) is refused with a message naming the limit,
instead of arming a timer that never fires. Tool arguments and configs use them
as pydantic `le=` bounds; operator settings (`Settings.cell_timeout`, ...) are
the defaults within them.
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


def seconds_limit(limit: float) -> str:
    """A bound as a person reads it, for descriptions: '24 h', '1 h', '7 days'."""
    if limit > 2 * DAY and limit % DAY == 0:
        return f"{int(limit // DAY)} days"
    if limit >= HOUR and limit % HOUR == 0:
        return f"{int(limit // HOUR)} h"
    return f"{limit:g} s"
