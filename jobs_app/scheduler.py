"""jobs_app's cron scheduler: rq's `CronScheduler` loop, firing occurrences in its own process.

rq's `CronJob.enqueue()` puts the registered function on an RQ queue with the pickle serializer,
which jobs_app's JSON-only workers refuse to decode (and must: pickle from Redis runs code).
So this scheduler keeps rq's loop (timing, heartbeats, scheduler registry, signals) and only
changes what a due entry does: call `jobs_app.recurring.fire(name)` here, which records an
ordinary jobs_app job through the handler's normal enqueue.
"""

from __future__ import annotations

import logging

from django_rq.cron import DjangoCronScheduler
from rq.cron import CronJob
from rq.utils import now

logger = logging.getLogger("jobs_app")


class JobsAppCronScheduler(DjangoCronScheduler):
    """Runs each due entry's function in this process instead of enqueuing it to RQ."""

    def enqueue_jobs(self) -> list[CronJob]:
        fired_at = now()
        fired: list[CronJob] = []
        for entry in self._cron_jobs:
            # An entry without a function is one rq loaded for monitoring only: nothing to run.
            if entry.func is None or not entry.should_run():
                continue
            try:
                entry.func(*entry.args, **entry.kwargs)
            except Exception:
                # The next slot, or the catch-up, tries again; the loop must go on.
                logger.exception("Recurring: %s%r failed in the scheduler", entry.func_name, entry.args)
            entry.set_enqueue_time(fired_at)
            fired.append(entry)
        return fired
