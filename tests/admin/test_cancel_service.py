"""`services.cancel` and `transport.withdraw`: waiting jobs leave RQ's queues and its schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs_app import services, transport
from jobs_app.models import Job
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_cancel_takes_queued_and_scheduled_jobs_off_rq(redis, run_worker):
    queued = JobFactory(priority=Job.Priority.HIGH)
    scheduled = JobFactory(state=Job.State.SCHEDULED, scheduled_for=timezone.now() + timedelta(hours=1))
    transport.push([services.dispatch_of(queued), services.dispatch_of(scheduled)])
    high, normal = transport.rq_queue("default", "high"), transport.rq_queue("default")
    assert high.job_ids == [str(queued.pk)]
    assert normal.scheduled_job_registry.get_job_ids() == [str(scheduled.pk)]

    result = services.cancel(Job.objects.all(), batch_size=1)

    assert (result.cancelled, result.skipped) == (2, 0)
    assert high.job_ids == [] and normal.scheduled_job_registry.get_job_ids() == []
    assert not redis.exists(high.job_class.key_for(str(queued.pk)))
    assert set(Job.objects.values_list("state", flat=True)) == {Job.State.CANCELLED}


def test_a_cancelled_job_that_still_reaches_a_worker_is_skipped(run_worker):
    job = JobFactory()
    transport.push([services.dispatch_of(job)])
    Job.objects.filter(pk=job.pk).update(state=Job.State.CANCELLED)  # as if Redis was down during cancel
    run_worker("default")
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.CANCELLED, 0)


def test_cancel_one_job_skips_a_running_one():
    running = JobFactory(state=Job.State.RUNNING)
    result = services.cancel(running)
    assert (result.cancelled, result.skipped) == (0, 1)
    assert result == services.CancelResult(changed=(), not_eligible=1, locked=0)
    assert running.state == Job.State.RUNNING
