"""The repair: lost pushes, jobs gone from Redis, overdue scheduled jobs, running jobs whose worker died."""

import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from redis import Redis
from rq.job import Job as RQJob
from rq.registry import FailedJobRegistry
from rq.utils import utcformat

from jobs_app import repair, services, transport
from jobs_app.models import Job, JobAttempt
from jobs_app.sweeper import SweepOptions, sweep
from jobs_app.worker import SimpleWorker
from tests.factories import JobFactory
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)


def refreshed(job):
    job.refresh_from_db()
    return job


def test_a_job_never_pushed_is_pushed_and_runs(run_worker, redis):
    job = JobFactory(needs_push=True, args=[1, 1])
    result = sweep()
    assert result.repaired == 1 and result.details["pushed"] == 1
    assert not refreshed(job).needs_push
    run_worker("default")
    assert refreshed(job).state == Job.State.SUCCEEDED


def test_after_flushall_queued_jobs_are_pushed_again_and_run(run_worker, redis):
    jobs = [handlers.add.enqueue(n, 1) for n in range(3)]
    redis.flushall()
    # Within the grace period the repair waits (the push may still be on its way).
    assert sweep().repaired == 0
    result = sweep(now=timezone.now() + timedelta(seconds=61))
    assert result.details["pushed"] == 3
    assert all(redis.exists(RQJob.key_for(str(job.pk))) for job in jobs)
    run_worker("default")
    assert [refreshed(job).result for job in jobs] == [1, 2, 3]


def test_queued_jobs_still_in_redis_are_left_alone(redis):
    handlers.add.enqueue(1, 1)
    assert sweep(now=timezone.now() + timedelta(seconds=61)).repaired == 0
    assert redis.llen("rq:queue:default") == 1


def test_a_job_a_worker_popped_and_never_started_is_pushed_again_and_runs_once(run_worker, redis):
    # A worker took the id off its RQ queue and died, or a failover lost its later writes (or the
    # reply to its pop): the RQ hash still says "queued", but no list or registry holds the id.
    job, other = handlers.add.enqueue(2, 3), handlers.add.enqueue(1, 1)
    assert redis.lpop("rq:queue:default") == str(job.pk).encode()
    assert redis.hget(RQJob.key_for(str(job.pk)), "status") == b"queued"
    assert sweep(now=timezone.now() + timedelta(seconds=61)).details["pushed"] == 1
    run_worker("default")
    assert (refreshed(job).state, refreshed(job).result, refreshed(job).attempts) == (Job.State.SUCCEEDED, 5, 1)
    assert refreshed(other).state == Job.State.SUCCEEDED


def test_a_queued_job_on_rqs_intermediate_list_or_with_a_live_execution_is_left_alone(redis):
    moved, started = handlers.add.enqueue(1, 1), handlers.add.enqueue(1, 2)
    # RQ's single-queue dequeue moves the id to an intermediate list; a worker registers an execution
    # of the job before its work horse marks it started.
    redis.lmove("rq:queue:default", "rq:queue:default:intermediate")
    redis.lpop("rq:queue:default")
    redis.zadd(f"rq:executions:{started.pk}", {"an-execution": time.time() + 90})
    assert sweep(now=timezone.now() + timedelta(seconds=61)).repaired == 0
    assert redis.lrange("rq:queue:default:intermediate", 0, -1) == [str(moved.pk).encode()]
    assert redis.llen("rq:queue:default") == 0


def test_a_popped_job_behind_a_long_queue_waits_until_the_queue_is_short(redis, monkeypatch):
    # Reading a long queue whole on every pass would cost the backlog: it is read once it is short.
    popped = handlers.add.enqueue(1, 1)
    handlers.add.enqueue(1, 2)
    redis.lpop("rq:queue:default")
    monkeypatch.setattr(transport, "SHORT_QUEUE", 0)
    assert sweep(now=timezone.now() + timedelta(seconds=61)).repaired == 0
    monkeypatch.setattr(transport, "SHORT_QUEUE", 1)
    assert sweep(now=timezone.now() + timedelta(seconds=61)).details["pushed"] == 1
    assert redis.lrange("rq:queue:default", 0, -1)[-1] == str(popped.pk).encode()


def test_overdue_scheduled_jobs_are_pushed(run_worker, ago):
    overdue = JobFactory(state=Job.State.SCHEDULED, scheduled_for=ago(seconds=61), args=[2, 2])
    not_yet = JobFactory(state=Job.State.SCHEDULED, scheduled_for=ago(seconds=30))
    assert sweep().details["overdue"] == 1
    run_worker("default")
    assert refreshed(overdue).state == Job.State.SUCCEEDED
    assert refreshed(not_yet).state == Job.State.SCHEDULED


@override_settings(JOBS_APP={"REPAIR_GRACE": 5})
def test_the_grace_period_is_a_setting(ago):
    JobFactory(state=Job.State.SCHEDULED, scheduled_for=ago(seconds=6))
    assert sweep().details["overdue"] == 1


def running(ago, **kwargs):
    fields = {"attempts": 1, "started_at": ago(seconds=120), "worker_name": "gone-worker", **kwargs}
    return JobFactory(state=Job.State.RUNNING, **fields)


def test_a_running_job_whose_worker_died_gets_a_killed_attempt_and_runs_again(run_worker, ago):
    job = running(ago, args=[3, 4])
    result = sweep()
    assert result.details["killed"] == 1
    job = refreshed(job)
    assert job.state == Job.State.SCHEDULED and job.error_type == "WorkerDied"
    attempt = job.history.get()
    assert (attempt.outcome, attempt.number, attempt.worker_name) == (JobAttempt.Outcome.KILLED, 1, "gone-worker")
    run_worker("default")
    job = refreshed(job)
    assert (job.state, job.result, job.attempts) == (Job.State.SUCCEEDED, 7, 2)


def test_a_killed_last_attempt_follows_the_policy_to_failed(ago):
    job = running(ago, attempts=3, max_attempts=3)
    sweep()
    assert refreshed(job).state == Job.State.FAILED


def test_a_killed_job_of_an_unknown_handler_goes_dead(ago, dead_signals):
    job = running(ago, handler="gone.away")
    sweep()
    assert refreshed(job).state == Job.State.DEAD
    assert [signalled.pk for signalled in dead_signals] == [job.pk]


def test_a_running_job_whose_worker_is_alive_and_on_it_is_left_alone(redis, ago):
    worker = SimpleWorker(["default"], connection=redis, name="alive-worker")
    worker.register_birth()
    try:
        job = running(ago, worker_name="alive-worker")
        worker.set_current_job_id(str(job.pk))
        assert sweep().repaired == 0
        assert refreshed(job).state == Job.State.RUNNING
    finally:
        worker.register_death()


def test_a_running_job_whose_live_worker_has_moved_on_is_recorded_as_killed(redis, ago):
    """The work horse died, or the outcome could not be written: the worker lives on, the attempt is lost."""
    worker = SimpleWorker(["default"], connection=redis, name="alive-worker")
    worker.register_birth()
    try:
        job = running(ago, worker_name="alive-worker")
        worker.set_current_job_id("some-other-job")
        assert sweep().details["killed"] == 1
        job = refreshed(job)
        assert job.state == Job.State.SCHEDULED
        assert "lost attempt 1" in job.history.get().error_message
    finally:
        worker.register_death()


@contextmanager
def worker_on_its_job(redis, ago, name: str, *, last_beat: float, expires_in: float):
    """A registered worker on a running job, whose last heartbeat was `last_beat` seconds ago and whose
    key expires in `expires_in` seconds (RQ sets it, at each beat, to the next promised beat plus 60 s)."""
    worker = SimpleWorker(["default"], connection=redis, name=name)
    worker.register_birth()
    try:
        job = running(ago, worker_name=name)
        worker.set_current_job_id(str(job.pk))
        redis.hset(worker.key, "last_heartbeat", utcformat(timezone.now() - timedelta(seconds=last_beat)))
        redis.expire(worker.key, int(expires_in))
        yield job
    finally:
        worker.register_death()


def test_a_job_whose_worker_stopped_beating_is_recovered_before_its_registration_expires(redis, ago):
    """Issue 15: a SIGKILLed worker's registration outlives it; its last heartbeat, older than the
    grace period and than the 30 s a forking worker promises between beats on a job, tells the
    repair that it is dead."""
    # Its last beat, 61 s ago, set the key to expire 30 + 60 s later, as RQ's forking worker does.
    with worker_on_its_job(redis, ago, "silent-worker", last_beat=61, expires_in=90 - 61) as job:
        assert "silent-worker" in {beat.name for beat in transport.workers(["default"])}, "RQ still lists it"
        assert sweep().details["killed"] == 1
        job = refreshed(job)
        assert job.state == Job.State.SCHEDULED
        assert "worker silent-worker died while running attempt 1" in job.history.get().error_message


def test_a_worker_that_runs_jobs_in_its_own_process_is_alive_for_its_jobs_whole_time_limit(redis, ago):
    """A SimpleWorker does not beat during a job; at the job's start it promised a beat within the
    job's time limit (RQ sets its key to expire 60 s after that), so a long job is left alone."""
    # A 600 s time limit, its last beat at the job's start two minutes ago.
    with worker_on_its_job(redis, ago, "busy-simple-worker", last_beat=120, expires_in=600 + 60 - 120) as job:
        assert sweep().repaired == 0
        assert refreshed(job).state == Job.State.RUNNING


def test_a_job_that_just_started_is_left_alone(ago):
    job = JobFactory(state=Job.State.RUNNING, attempts=1, started_at=ago(seconds=5), worker_name="gone-worker")
    assert sweep().repaired == 0
    assert refreshed(job).state == Job.State.RUNNING
    assert not JobAttempt.objects.exists()


def test_a_second_sweeper_skips_the_repair_while_one_holds_its_lock(ago):
    from jobs_app import transport

    JobFactory(needs_push=True)
    lock = transport.lock("sweeper-repair", timeout=60)
    assert lock.acquire()
    try:
        assert sweep().repaired == 0
    finally:
        lock.release()
    assert sweep().repaired == 1


def test_the_repair_can_be_left_out(ago):
    JobFactory(needs_push=True)
    assert sweep(SweepOptions(repair=False)).repaired == 0


def test_a_repair_lock_whose_release_redis_did_not_answer_is_released_by_the_next_pass(redis):
    # The primary died as a pass ended: the lock was copied to the replica, the release never arrived.
    lock = transport.lock(repair.LOCK_NAME, timeout=300)
    assert lock.acquire()
    reachable, lock.redis = lock.redis, Redis.from_url("redis://127.0.0.1:1/0")
    repair._release(lock)
    lock.redis = reachable  # the control connection follows the failover
    assert redis.exists(f"jobs_app:lock:{repair.LOCK_NAME}")
    job = JobFactory(needs_push=True)
    assert sweep().details["pushed"] == 1  # not "skipped: another sweeper is repairing" for 5 minutes
    assert not refreshed(job).needs_push
    assert not redis.exists(f"jobs_app:lock:{repair.LOCK_NAME}")


# Lost jobs found without walking the backlog: the verified mark in Redis.


def queued_long_ago(ago, count=1, **kwargs):
    """Queued jobs created an hour ago and pushed to Redis, as a backlog holds them."""
    jobs = JobFactory.create_batch(count, created_at=ago(hours=1), **kwargs)
    transport.push([services.dispatch_of(job) for job in jobs])
    return jobs


def test_a_pass_marks_redis_verified_up_to_the_grace_period_and_a_dry_run_does_not(redis):
    sweep(SweepOptions(dry_run=True))
    assert not redis.exists(transport.VERIFIED_MARK)
    now = timezone.now()
    sweep(now=now)
    assert transport.verified_until("default") == now - timedelta(seconds=60)


def test_queued_jobs_older_than_the_mark_are_found_again_when_redis_loses_everything(run_worker, redis, ago):
    jobs = queued_long_ago(ago, 3, args=[1, 1])
    assert sweep().repaired == 0  # all there: the mark is set
    assert redis.exists(transport.VERIFIED_MARK)
    redis.flushall()  # the mark goes with the jobs
    assert sweep().details["pushed"] == 3
    run_worker("default")
    assert {refreshed(job).state for job in jobs} == {Job.State.SUCCEEDED}


def test_a_mark_set_on_another_redis_process_is_not_trusted_after_a_failover(run_worker, redis, ago):
    """A replica promoted by Sentinel holds the old primary's mark, but maybe not its last writes."""
    jobs = queued_long_ago(ago, 2, args=[1, 1])
    sweep()
    until = transport.verified_until("default")
    redis.set(transport.VERIFIED_MARK, f"the-old-primary {until.isoformat()}")  # copied to the replica
    redis.delete("rq:queue:default")  # the old primary's last writes never reached it
    assert transport.verified_until("default", start=False) is None
    assert sweep().details["pushed"] == 2
    assert transport.verified_until("default") is not None  # verified again, on this server
    run_worker("default")
    assert {refreshed(job).state for job in jobs} == {Job.State.SUCCEEDED}


def test_a_pass_over_some_queues_or_one_handler_uses_the_mark_but_does_not_move_it(redis, ago):
    sweep(now=timezone.now() - timedelta(minutes=30))
    mark = transport.verified_until("default")
    sweep(SweepOptions(queues=["default"]))
    sweep(SweepOptions(handler="testapp.add"))
    assert transport.verified_until("default") == mark


# Overdue scheduled jobs found the same way: those due since the mark, and those RQ failed.


def overdue_long_ago(ago, **kwargs):
    """A scheduled job due half an hour ago (a retry behind a long RQ queue), pushed: on its RQ queue."""
    job = JobFactory(state=Job.State.SCHEDULED, created_at=ago(hours=1), scheduled_for=ago(minutes=30), **kwargs)
    transport.push([services.dispatch_of(job)])
    return job


def test_an_overdue_job_waiting_on_its_rq_queue_is_looked_up_once_not_on_every_pass(redis, ago):
    job = overdue_long_ago(ago)
    assert sweep().details["overdue"] == 0  # no mark yet: looked up, and waiting on its RQ queue
    redis.config_resetstat()
    assert sweep().details["overdue"] == 0
    commands = redis.info("commandstats")
    # Neither its RQ hash nor its RQ queue was read again: due before the mark, it was verified then.
    assert "cmdstat_hmget" not in commands and "cmdstat_lrange" not in commands
    assert redis.lrange("rq:queue:default", 0, -1) == [str(job.pk).encode()]


def test_a_scheduled_job_that_became_overdue_since_the_mark_and_was_never_promoted_is_pushed(redis):
    now = timezone.now()
    job = JobFactory(state=Job.State.SCHEDULED, scheduled_for=now + timedelta(minutes=5), args=[2, 2])
    transport.push([services.dispatch_of(job)])  # in RQ's scheduled registry, for a scheduler to promote
    assert sweep(now=now).details["overdue"] == 0
    assert transport.verified_until("default") == now - timedelta(seconds=60)
    # No RQ scheduler promoted it: once overdue by the grace period, the repair pushes it.
    assert sweep(now=now + timedelta(minutes=7)).details["overdue"] == 1


def waiting_long_ago(ago, state, **kwargs):
    """One job waiting since long before the mark: queued an hour ago, or scheduled and due half an hour ago."""
    if state == Job.State.SCHEDULED:
        return overdue_long_ago(ago, **kwargs)
    (job,) = queued_long_ago(ago, **kwargs)
    return job


@pytest.mark.parametrize("state, kind", [(Job.State.QUEUED, "pushed"), (Job.State.SCHEDULED, "overdue")])
def test_a_job_older_than_the_mark_that_rq_failed_before_its_claim_is_pushed_again(run_worker, redis, ago, state, kind):
    job = waiting_long_ago(ago, state, args=[2, 2])
    sweep()
    # Its work horse died, or the claim could not reach the database: RQ failed it, the row still waits.
    rq_job = RQJob.fetch(str(job.pk), connection=redis)
    redis.lrem("rq:queue:default", 0, str(job.pk))
    rq_job.set_status("failed")
    FailedJobRegistry("default", connection=redis).add(rq_job, ttl=3600)
    assert sweep().details[kind] == 1
    run_worker("default")
    assert refreshed(job).state == Job.State.SUCCEEDED


def test_an_overdue_job_whose_promotion_a_failover_lost_is_pushed_again(run_worker, redis, ago):
    """The replica promoted by Sentinel has the job back in RQ's scheduled registry, and the old primary's mark."""
    job = overdue_long_ago(ago, args=[2, 2])
    sweep()
    until = transport.verified_until("default")
    redis.set(transport.VERIFIED_MARK, f"the-old-primary {until.isoformat()}")
    redis.delete("rq:queue:default")
    redis.hset(RQJob.key_for(str(job.pk)), "status", "scheduled")
    redis.zadd("rq:scheduled:default", {str(job.pk): ago(minutes=30).timestamp()})
    assert sweep().details["overdue"] == 1
    run_worker("default")
    assert refreshed(job).state == Job.State.SUCCEEDED


def test_the_mark_does_not_move_if_redis_is_another_server_than_when_the_check_began(redis):
    sweep(now=timezone.now() - timedelta(minutes=30))
    mark = transport.verified_until("default")
    assert not transport.set_verified("default", mark + timedelta(minutes=10), server="the-old-primary")
    assert transport.verified_until("default") == mark
    assert transport.set_verified("default", mark + timedelta(minutes=10), server=transport.server_id("default"))
