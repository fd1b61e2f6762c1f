"""Two sweepers at once, each with its own database connection: no job is re-run or buried twice."""

import threading

import pytest
from django.db import connection

from jobs_app.models import Job
from jobs_app.sweeper import SweepOptions, sweep
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


def race(options, sweepers=2):
    """Run `sweepers` passes at the same moment in threads (one connection each); their results."""
    barrier = threading.Barrier(sweepers)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(sweep(options))
        except Exception as error:  # reported by the test, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(sweepers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_two_sweepers_re_run_each_job_once(redis, ago):
    JobFactory.create_batch(300, failed=True, failed_at=ago(hours=1), cycle=1)

    results = race(SweepOptions(batch_size=25, repair=False))

    assert sum(result.retried for result in results) == 300
    assert set(Job.objects.values_list("state", "auto_retries", "cycle")) == {(Job.State.QUEUED, 1, 2)}
    assert redis.llen("rq:queue:default") == 300


def test_two_sweepers_bury_each_job_once(ago, dead_signals):
    JobFactory.create_batch(200, failed=True, auto_retries=3, failed_at=ago(hours=1))

    results = race(SweepOptions(batch_size=25, repair=False))

    assert sum(result.dead for result in results) == 200
    assert len(dead_signals) == 200
    assert len({job.pk for job in dead_signals}) == 200


def test_two_sweepers_record_a_killed_attempt_once(ago):
    jobs = JobFactory.create_batch(
        20, state=Job.State.RUNNING, attempts=1, started_at=ago(minutes=5), worker_name="gone-worker"
    )
    results = race(SweepOptions())
    assert sum(result.details.get("killed", 0) for result in results) == 20
    for job in jobs:
        assert list(job.history.values_list("outcome", flat=True)) == ["killed"]
