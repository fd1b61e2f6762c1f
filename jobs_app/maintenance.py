"""Housekeeping the sweeper does after each pass: the dead-job alert and SQLite's planner statistics."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.mail import mail_admins
from django.db import connection
from django.utils import timezone
from redis import RedisError

from . import groups, transport
from .conf import app_settings
from .models import Job
from .states import State

logger = logging.getLogger("jobs_app")

ALERT_WINDOW = timedelta(hours=1)
STATISTICS_INTERVAL = timedelta(hours=1)
_ALERT_FLAG = "alert:dead"


class _AlertMemory:
    """This process's own record of its last dead-job alert: the once-an-hour limit while Redis,
    which holds the limit for every sweeper, cannot be reached, and just after it returns
    without the flag."""

    last: datetime | None = None
    # Redis could not be asked since the last alert: its flag may be missing though we alerted.
    redis_missed = False

    def recent(self, now: datetime) -> bool:
        return self.last is not None and now - self.last < ALERT_WINDOW

    def forget(self) -> None:
        self.last, self.redis_missed = None, False


alert_memory = _AlertMemory()


def alert_if_many_dead(*, now: datetime | None = None) -> bool:
    """Log an error and mail the admins when more jobs went dead in the last hour than the threshold.

    At most once an hour across all sweepers (a Redis key set with NX EX 3600). While Redis cannot
    be reached, and when it comes back without the key, each sweeper keeps to once an hour from
    its own memory.
    """
    threshold = app_settings.ALERT_DEAD_THRESHOLD
    if threshold is None:
        return False
    now = now or timezone.now()
    # A muted failure group's dead jobs are left out: someone already knows.
    dead = groups.without_muted(Job.objects.filter(state=State.DEAD, finished_at__gte=now - ALERT_WINDOW)).count()
    if dead <= threshold:
        return False
    try:
        first = transport.set_once(_ALERT_FLAG, ttl=int(ALERT_WINDOW.total_seconds()))
    except RedisError as error:
        if alert_memory.recent(now):
            alert_memory.redis_missed = True
            return False
        logger.error("Could not reach Redis for the dead-job alert flag (%s); this sweeper keeps the limit", error)
        alert_memory.redis_missed = True
    else:
        if not first:
            return False
        if alert_memory.redis_missed and alert_memory.recent(now):
            # Redis lost the flag while we could not reach it; we alerted within the hour already.
            alert_memory.redis_missed = False
            return False
        alert_memory.redis_missed = False
    alert_memory.last = now
    message = f"{dead} jobs went dead in the last hour (threshold {threshold})."
    logger.error("Alert: %s", message)
    try:
        mail_admins("jobs_app: many dead jobs", message + "\nSee the admin's Failed jobs list.")
    except Exception as error:  # a mail server that is down must not stop the sweeper
        logger.error("Could not mail the admins about the dead jobs (%s)", error)
    return True


def refresh_planner_statistics() -> bool:
    """On SQLite, ANALYZE the jobs table, at most once an hour across sweepers (a Redis key set with NX EX).

    PostgreSQL's autovacuum keeps its planner's statistics; SQLite has none until someone
    runs ANALYZE, and without them it sorts every failed job for the admin's failed list
    instead of walking the failed-list index.
    """
    if connection.vendor != "sqlite":
        return False
    try:
        if not transport.set_once("sqlite-analyze", ttl=int(STATISTICS_INTERVAL.total_seconds())):
            return False
    except RedisError:
        return False
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{Job._meta.db_table}"')
    return True
