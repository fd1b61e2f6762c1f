"""The one vocabulary of job states and priorities, and the sets built from them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class State(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    DEAD = "dead", _("Dead")
    CANCELLED = "cancelled", _("Cancelled")


class Priority(models.TextChoices):
    HIGH = "high", _("High")
    NORMAL = "normal", _("Normal")
    LOW = "low", _("Low")


# Waiting for a worker: the states a worker may claim.
RUNNABLE = frozenset({State.SCHEDULED, State.QUEUED})
# Not finished for good: an idempotency key held by one of these is taken.
UNFINISHED = frozenset({State.SCHEDULED, State.QUEUED, State.RUNNING, State.FAILED})
# May be re-run by hand or by the sweeper.
RETRYABLE = frozenset({State.FAILED, State.DEAD, State.CANCELLED})
# Will not change again unless someone re-runs it.
TERMINAL = frozenset({State.SUCCEEDED, State.DEAD, State.CANCELLED})
# Ended in failure: what an operator looks at (the admin's failed list, the API's failed jobs).
# A tuple, failed first: the order choices and error messages list them in.
FAILED_OR_DEAD = (State.FAILED, State.DEAD)
