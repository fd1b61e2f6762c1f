"""The breaker in real workers: shared by two worker processes through Redis, deferring jobs
without spending their attempts, half-opening and closing."""

import subprocess
import time
from datetime import timedelta

import pytest

from jobs_app.breaker import CLOSED, HALF_OPEN, OPEN, Breaker
from jobs_app.models import Job
from tests.testapp import handlers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

# tests/settings.py: test-whatsapp opens after 2 failures, waits 60 s, closes after 2 successes.
BREAKER = Breaker("test-whatsapp")


@pytest.fixture
def dependency(tmp_path):
    """A file the handler reads: "down" makes it fail, "up" lets it succeed."""
    path = tmp_path / "whatsapp"

    def set_to(state: str) -> str:
        path.write_text(state)
        return str(path)

    return set_to


@pytest.fixture
def worker_process(subprocess_env, manage_py):
    """A second worker process: `manage.py rqworker default --burst`, run to the end."""

    def run() -> None:
        subprocess.run([*manage_py, "rqworker", "default", "--burst"], env=subprocess_env, check=True, timeout=60)

    return run


def test_the_breaker_opens_after_failures_in_two_worker_processes_and_defers_without_spending_attempts(
    redis, run_worker, worker_process, dependency, make_due
):
    path = dependency("down")
    first = handlers.whatsapp.enqueue(path)
    worker_process()  # a worker process of its own
    assert BREAKER.state().state == CLOSED and BREAKER.state().failures == 1

    second = handlers.whatsapp.enqueue(path)
    run_worker("default")  # this test's process: it sees the other process's count
    assert BREAKER.state().state == OPEN
    assert Job.objects.filter(pk__in=[first.pk, second.pk], state=Job.State.FAILED).count() == 2

    # Open: the next job is put back for the end of the recovery window, unrun, in another process.
    dependency("up")
    third = handlers.whatsapp.enqueue(path)
    worker_process()
    third.refresh_from_db()
    retry_at = BREAKER.state().retry_at
    assert (third.state, third.attempts, third.max_attempts) == (Job.State.SCHEDULED, 0, 1)
    assert abs((third.scheduled_for - retry_at).total_seconds()) < 0.01
    assert not third.history.exists()  # the handler was not called: no attempt recorded
    assert BREAKER.state().deferred == 1

    # Control time: the recovery window is over (as if 61 s had passed), the job is due.
    opened_at = float(redis.hget(BREAKER.key, "opened_at"))
    redis.hset(BREAKER.key, "opened_at", repr(opened_at - 61))
    make_due(third)
    run_worker("default", with_scheduler=True)
    third.refresh_from_db()
    assert (third.state, third.attempts, third.result) == (Job.State.SUCCEEDED, 1, "sent")
    assert BREAKER.state().state == HALF_OPEN  # one success of the two it needs

    fourth = handlers.whatsapp.enqueue(path)
    worker_process()
    fourth.refresh_from_db()
    assert fourth.state == Job.State.SUCCEEDED
    assert (BREAKER.state().state, BREAKER.state().failures) == (CLOSED, 0)


def test_jobs_deferred_while_open_keep_every_attempt_for_later(run_worker, dependency):
    BREAKER.open()
    jobs = [handlers.whatsapp.enqueue(dependency("up")) for _ in range(3)]

    run_worker("default")

    for job in jobs:
        job.refresh_from_db()
        assert (job.state, job.attempts, job.history.count()) == (Job.State.SCHEDULED, 0, 0)
        assert abs((job.scheduled_for - BREAKER.state().opened_at) - timedelta(seconds=60)) < timedelta(milliseconds=10)
    assert time.time() < BREAKER.state().retry_at.timestamp()
