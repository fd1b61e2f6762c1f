"""The cron configuration of jobs_app's recurring handlers, read by `manage.py jobs_cron` (rq's cron loop).

One entry per recurring handler, each calling the one fixed function `jobs_app.recurring.fire`
with the handler's name (nothing is imported from a path stored in Redis), plus
`jobs_app.recurring.catch_up`, which runs when the scheduler starts and every few minutes.
"""

from __future__ import annotations

from typing import Any

from rq import cron

from . import recurring, transport

# How often `catch_up` looks for a due slot that has no job (and at start).
CATCH_UP_INTERVAL = 300
# An `every=` handler is looked at twice a period (at least once a minute): rq's interval timer
# drifts, and a slot that no look landed in would be skipped.
LONGEST_LOOK = 60


def entries() -> list[dict[str, Any]]:
    """rq's `cron.register()` arguments for every recurring handler and for the catch-up."""
    found: list[dict[str, Any]] = []
    for handler in recurring.recurring_handlers():
        timing: dict[str, str | int] = (
            {"cron": handler.schedule}
            if handler.schedule is not None
            else {"interval": max(1, int(min(recurring.period(handler) / 2, LONGEST_LOOK)))}
        )
        found.append(
            {
                "func": recurring.fire,
                "queue_name": handler.queue,
                "args": (handler.name,),
                "name": handler.name,
                **timing,
            }
        )
    # Always there, so that a project with no recurring handler yet still has a scheduler that runs.
    found.append({"func": recurring.catch_up, "queue_name": transport.control_queue(), "interval": CATCH_UP_INTERVAL})
    return found


for _entry in entries():
    cron.register(**_entry)
