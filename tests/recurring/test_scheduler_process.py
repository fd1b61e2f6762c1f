"""Two real `manage.py jobs_cron` processes at once: one job per occurrence, and both stop cleanly."""

import json
import signal
import subprocess

import pytest
from django.utils import timezone
from rq.cron import CronScheduler

from jobs_app import recurring
from jobs_app.models import Job
from tests.polling import wait_for
from tests.testapp import handlers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]


def fired_daily_sync(redis) -> int:
    """How many running schedulers have fired `test.daily_sync` (rq saves each one's entries in Redis)."""
    count = 0
    for scheduler in CronScheduler.all(redis):
        with_data = redis.hget(scheduler.key, "cron_jobs")
        entries = json.loads(with_data) if with_data else []
        count += any(entry["name"] == "test.daily_sync" and entry["latest_enqueue_time"] for entry in entries)
    return count


def test_two_schedulers_started_together_enqueue_one_job_for_the_slot(redis, subprocess_env, manage_py):
    schedulers = [
        subprocess.Popen(
            [*manage_py, "jobs_cron"], env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    try:
        # An every= handler is due at once when a scheduler starts: both fire its current slot.
        wait_for(lambda: fired_daily_sync(redis) == 2, message="both schedulers to fire test.daily_sync")
    finally:
        for process in schedulers:
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=30)[0] for process in schedulers]

    assert [process.returncode for process in schedulers] == [0, 0], outputs
    slot = recurring.previous_slot(handlers.daily_sync, timezone.now())
    assert list(Job.objects.filter(handler="test.daily_sync").values_list("idempotency_key", flat=True)) == [
        recurring.occurrence_key(handlers.daily_sync, slot)
    ]
    assert all("Recurring: " in output for output in outputs)
