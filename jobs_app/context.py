"""What a `takes_context=True` handler gets as its first argument: on a worker, or in an inline call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Job


@dataclass(frozen=True, kw_only=True)
class JobContext:
    """The context of one attempt: the job's row and the attempt's number.

    `report` records progress on the row (the runner passes `services.set_progress`); without
    one, as in an inline call, progress goes nowhere.
    """

    job: Job | None
    attempt: int
    report: Callable[[Job, int, str], None] | None = field(default=None, repr=False)

    def set_progress(self, percent: int, message: str = "") -> None:
        """Record progress (0-100) on the job's row, for the admin and the API."""
        if self.report is not None and self.job is not None:
            self.report(self.job, percent, message)


def InlineContext() -> JobContext:
    """The context of a plain, inline call: no row, so progress goes nowhere."""
    return JobContext(job=None, attempt=1)
