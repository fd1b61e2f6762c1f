"""One job pushed to RQ three times, two workers listening: the handler runs once; the other
deliveries are no-ops."""

import pytest

from jobs_app import services, transport
from jobs_app.models import Job, JobAttempt
from tests.faults.consistency import assert_consistent
from tests.polling import wait_for
from tests.testapp import fault_handlers

pytestmark = [pytest.mark.faults, pytest.mark.subprocess, pytest.mark.django_db(transaction=True)]


def test_a_job_delivered_three_times_to_two_workers_runs_once(processes, rq_redis, tmp_path):
    job = fault_handlers.hold.enqueue(str(tmp_path))
    transport.push([services.dispatch_of(job)])
    transport.push([services.dispatch_of(job)])
    assert rq_redis.lrange("rq:queue:default", 0, -1) == [str(job.pk).encode()] * 3

    processes.worker("faults-first")
    processes.worker("faults-second")
    wait_for(lambda: (tmp_path / "started-1").exists(), message="the job to start")
    # The worker holding the job keeps it; the other takes the remaining deliveries: it skips the
    # first (the row is running), and RQ drops the last (its skip ended the RQ job).
    wait_for(lambda: rq_redis.llen("rq:queue:default") == 0, message="every delivery to be taken")
    logs = lambda: processes.log("faults-first") + processes.log("faults-second")  # noqa: E731
    wait_for(lambda: "is running, not waiting to run (a duplicate delivery?)" in logs(), message="a skipped delivery")
    assert Job.objects.get(pk=job.pk).state == Job.State.RUNNING

    (tmp_path / "release").touch()
    wait_for(lambda: Job.objects.get(pk=job.pk).state == Job.State.SUCCEEDED, message="the job to succeed")
    assert len(list(tmp_path.glob(f"ran-{job.pk}-*"))) == 1
    assert list(job.history.values_list("outcome", flat=True)) == [JobAttempt.Outcome.SUCCEEDED]
    assert_consistent()
