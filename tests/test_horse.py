"""The forking worker: each handler's call in a work horse of its own, the outcome recorded by the worker."""

import os

import django_rq
import pytest
from django.test import override_settings
from rq import Queue
from rq.serializers import JSONSerializer

from jobs_app.models import FailureGroup, Job, JobAttempt
from jobs_app.worker import Worker
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run_forking_worker(redis):
    def run() -> Worker:
        worker = django_rq.get_worker("default", worker_class=Worker)
        worker.work(burst=True)
        return worker

    return run


def outcomes(job) -> list[str]:
    return list(job.history.order_by("cycle", "number").values_list("outcome", flat=True))


def test_the_handler_runs_in_a_work_horse_and_the_worker_records_its_result(run_forking_worker):
    job = handlers.pid.enqueue()
    worker = run_forking_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts, outcomes(job)) == (Job.State.SUCCEEDED, 1, [JobAttempt.Outcome.SUCCEEDED])
    assert job.result != os.getpid(), "the handler ran in a process of its own"
    assert job.worker_name == worker.name


def test_the_work_horse_can_use_the_database(run_forking_worker):
    job = handlers.progress.enqueue(4)
    run_forking_worker()
    job.refresh_from_db()
    assert (job.state, job.progress, job.progress_message) == (Job.State.SUCCEEDED, 100, "step 4")


def test_a_failure_in_the_work_horse_is_recorded_with_the_handler_s_exception(run_forking_worker):
    job = handlers.always_fails.enqueue("no luck")
    run_forking_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.FAILED, 3)
    assert outcomes(job) == [JobAttempt.Outcome.FAILED] * 3
    assert (job.error_type, job.error_message) == ("RuntimeError", "no luck")
    assert "in always_fails" in job.traceback and job.traceback.endswith("RuntimeError: no luck\n")
    group = FailureGroup.objects.get(fingerprint=job.fingerprint)
    assert (group.error_type, group.occurrences) == ("RuntimeError", 3)


def test_give_up_on_and_transient_errors_are_judged_on_the_handler_s_exception(run_forking_worker):
    gives_up = handlers.gives_up_on_value_error.enqueue("value")
    retried = handlers.gives_up_on_value_error.enqueue("transient")
    run_forking_worker()
    gives_up.refresh_from_db()
    retried.refresh_from_db()
    assert (gives_up.state, gives_up.attempts) == (Job.State.DEAD, 1)
    assert (retried.state, retried.attempts, retried.error_type) == (Job.State.FAILED, 5, "TransientError")


def test_hooks_run_in_the_work_horse_with_the_exception_itself_after_the_outcome_is_recorded(
    run_forking_worker, tmp_path
):
    notes = tmp_path / "hooks"
    job = handlers.horse_hooked.enqueue(str(notes))
    run_forking_worker()
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    retry, failure = (line.split() for line in notes.read_text().splitlines())
    assert retry[:3] == ["on_retry", "Probe", "7"] and retry[4] == Job.State.SCHEDULED
    assert failure[:3] == ["on_failure", "Probe", "7"] and failure[4] == Job.State.FAILED
    assert os.getpid() not in {int(retry[3]), int(failure[3])}


def test_a_handler_past_its_time_limit_is_timed_out(run_forking_worker):
    job = handlers.slow.enqueue(5)
    run_forking_worker()
    job.refresh_from_db()
    assert (job.state, job.error_type, outcomes(job)) == (
        Job.State.FAILED,
        "JobTimeout",
        [JobAttempt.Outcome.TIMED_OUT],
    )


def test_a_handler_that_ignores_its_time_limit_is_killed_at_the_hard_limit_and_recorded(run_forking_worker):
    with override_settings(JOBS_APP={"TIMEOUT_MARGIN": 1}):
        job = handlers.ignores_time_limit.enqueue(30)
        run_forking_worker()
    job.refresh_from_db()
    assert (job.state, job.error_type, outcomes(job)) == (Job.State.FAILED, "WorkerDied", [JobAttempt.Outcome.KILLED])
    assert "ran past its hard time limit" in job.error_message


def test_a_work_horse_that_dies_is_recorded_killed_at_once_and_the_job_retried(run_forking_worker):
    job = handlers.dies_once.enqueue()
    run_forking_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.SUCCEEDED, 2)
    assert outcomes(job) == [JobAttempt.Outcome.KILLED, JobAttempt.Outcome.SUCCEEDED]
    assert "died (signal 9, SIGKILL) while running the handler" in job.history.get(number=1).error_message


def test_a_result_that_cannot_be_stored_fails_the_attempt(run_forking_worker):
    job = handlers.returns_object.enqueue()
    run_forking_worker()
    job.refresh_from_db()
    assert (job.state, job.error_type, outcomes(job)) == (Job.State.SCHEDULED, "TypeError", [JobAttempt.Outcome.FAILED])
    assert "not JSON-serialisable" in job.error_message


def test_an_allow_listed_plain_rq_function_takes_rq_s_own_path(run_forking_worker, redis):
    queue = Queue("default", connection=redis, serializer=JSONSerializer)
    job = queue.enqueue("tests.testapp.plain_rq.ping", result_ttl=60)
    with override_settings(JOBS_APP={"ALLOWED_RQ_FUNCTIONS": ["tests.testapp.plain_rq.ping"]}):
        run_forking_worker()
    job.refresh()
    assert (job.get_status(), job.return_value()) == ("finished", "pong")
