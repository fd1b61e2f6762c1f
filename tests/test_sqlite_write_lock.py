"""The worker's writes (`services.claim`, `record_success`, `end_attempt`) against SQLite's one write lock, held by
other writers: a writer waits its turn and then records; one that cannot get the lock in time records nothing."""

import os
import sqlite3
import threading
from multiprocessing import get_context

import pytest
from django.db import OperationalError, connection, connections
from django.utils import timezone

from jobs_app import services
from jobs_app.models import FailureGroup, Job, JobAttempt
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def on_sqlite():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's write lock")


@pytest.fixture
def holder():
    """Another connection to the same file, as another worker process holds it: `BEGIN IMMEDIATE` takes the lock."""
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
    yield other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


def release_later(holder: sqlite3.Connection) -> threading.Timer:
    """Commit the holder's transaction from another thread, while this one waits for the lock."""
    timer = threading.Timer(0.05, holder.execute, ["COMMIT"])
    timer.start()
    return timer


def test_a_claim_that_finds_the_lock_taken_waits_and_claims_once_it_is_released(holder):
    job, other = JobFactory(), JobFactory()
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE jobs_app_job SET progress = 50 WHERE id = ?", [other.pk.hex])

    releasing = release_later(holder)
    claimed = services.claim(job.pk, worker_name="w1")
    releasing.join()

    assert claimed is not None and (claimed.state, claimed.attempts) == (Job.State.RUNNING, 1)
    assert Job.objects.get(pk=other.pk).progress == 50  # the holder's transaction is kept too


def test_an_outcome_that_finds_the_lock_taken_waits_and_records_the_whole_attempt(holder):
    job = services.claim(JobFactory().pk, worker_name="w1")
    holder.execute("BEGIN IMMEDIATE")

    releasing = release_later(holder)
    services.record_success(job, started_at=timezone.now(), result=3)
    releasing.join()

    job.refresh_from_db()
    assert (job.state, job.result) == (Job.State.SUCCEEDED, 3)
    assert list(job.history.values_list("number", "outcome")) == [(1, JobAttempt.Outcome.SUCCEEDED)]


def test_a_failure_that_finds_the_lock_taken_records_the_attempt_and_its_group(holder):
    job = services.claim(JobFactory().pk, worker_name="w1")
    holder.execute("BEGIN IMMEDIATE")

    releasing = release_later(holder)
    decision = services.end_attempt(
        job, outcome=JobAttempt.Outcome.FAILED, error=RuntimeError("boom"), give_up_on=(), redelivered_by_rq=True
    )
    releasing.join()

    job.refresh_from_db()
    assert decision is not None and job.state == Job.State.SCHEDULED
    assert list(job.history.values_list("outcome", flat=True)) == [JobAttempt.Outcome.FAILED]
    assert FailureGroup.objects.get(fingerprint=job.fingerprint).occurrences == 1


def test_an_outcome_that_cannot_get_the_lock_in_time_records_nothing_and_can_be_recorded_later(holder):
    job = services.claim(JobFactory().pk, worker_name="w1")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 50")
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="database is locked"):
            services.record_success(job, started_at=timezone.now(), result=3)
        assert connection.get_autocommit() and not connection.in_atomic_block
        holder.execute("COMMIT")
        row = Job.objects.get(pk=job.pk)
        assert (row.state, row.history.count()) == (Job.State.RUNNING, 0)  # no half record

        services.record_success(job, started_at=timezone.now(), result=3)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 30000")

    row = Job.objects.get(pk=job.pk)
    assert (row.state, row.result, row.history.count()) == (Job.State.SUCCEEDED, 3, 1)


def _claim_and_record(job_ids: list, worker_name: str) -> None:
    """One writer process: claim every job it can; the first attempt of a third of the jobs fails, the next succeeds."""
    connections.close_all()  # this process's own connection, as a pool process opens it
    try:
        for job_id in job_ids:
            job = services.claim(job_id, worker_name=worker_name)
            if job is None:
                continue
            if job.attempts == 1 and job_id.int % 3 == 0:
                services.end_attempt(job, outcome=JobAttempt.Outcome.FAILED, error=RuntimeError("once"),
                                     give_up_on=(), redelivered_by_rq=True)  # fmt: skip
                job = services.claim(job_id, worker_name=worker_name)
                if job is None:
                    continue  # another process claimed the retry first: it records it
            services.record_success(job, started_at=timezone.now(), result=worker_name)
        connections.close_all()
    except BaseException:
        os._exit(1)
    os._exit(0)


@pytest.mark.subprocess
def test_four_processes_writing_at_once_lose_no_attempt_and_run_no_attempt_twice():
    jobs = JobFactory.create_batch(120)
    ids = [job.pk for job in jobs]
    connections.close_all()
    fork = get_context("fork")
    # Each process walks the jobs from its own starting point: they contend for the lock and for the same jobs.
    processes = [
        fork.Process(target=_claim_and_record, args=(ids[start:] + ids[:start], f"w{index}"))
        for index, start in enumerate((0, 30, 60, 90))
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)

    assert [process.exitcode for process in processes] == [0, 0, 0, 0]
    assert Job.objects.filter(state=Job.State.SUCCEEDED).count() == 120
    failing_once = sum(1 for job_id in ids if job_id.int % 3 == 0)
    assert JobAttempt.objects.count() == 120 + failing_once
    for job in Job.objects.all():
        attempts = list(job.history.order_by("number").values_list("number", "outcome", "worker_name"))
        # One row per attempt, numbered as the job counted them, the last one a success by the process that won it.
        assert [number for number, _outcome, _worker in attempts] == list(range(1, job.attempts + 1))
        assert attempts[-1][1:] == (JobAttempt.Outcome.SUCCEEDED, job.result)
        assert all(outcome == JobAttempt.Outcome.FAILED for _number, outcome, _worker in attempts[:-1])
