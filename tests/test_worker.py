"""jobs_app's worker runs only jobs_app's entry point and decodes only JSON."""

import os
import pickle
import zlib

import django_rq
import pytest
from django.test import override_settings
from rq import Queue
from rq.serializers import JSONSerializer

from jobs_app.models import Job as JobRow
from jobs_app.worker import SimpleWorker, Worker
from tests.faults.planted import BREAKAGES, MISSING_DATA, PLACES, is_quarantined, place, plant_job, still_placed
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)


def json_queue(redis, name="default"):
    return Queue(name, connection=redis, serializer=JSONSerializer)


def test_a_planted_job_naming_another_callable_is_refused_and_never_called(run_worker, redis, tmp_path, caplog):
    marker = tmp_path / "pwned"
    planted = json_queue(redis).enqueue("os.system", f"touch {marker}")
    run_worker()

    assert not marker.exists(), "the planted command ran"
    # What the worker did with it: refused it, said so, and set it aside in quarantine, off the queue.
    assert f"Refused: RQ job {planted.id} names function 'os.system'" in caplog.text
    assert is_quarantined(redis, planted.id)
    assert f"quarantined as jobs_app:quarantine:{planted.id}" in caplog.text
    assert json_queue(redis).count == 0
    assert not JobRow.objects.exists(), "nothing was recorded as a jobs_app job"


def test_a_planted_callback_is_refused_too(run_worker, redis, caplog):
    job = json_queue(redis).enqueue("tests.testapp.plain_rq.ping")
    # Were it imported and called, os.abort would end this test run on the spot.
    redis.hset(f"rq:job:{job.id}", "success_callback_name", "os.abort")
    with override_settings(JOBS_APP={"ALLOWED_RQ_FUNCTIONS": ["tests.testapp.plain_rq.ping"]}):
        run_worker()
    assert f"Refused: RQ job {job.id} names success callback 'os.abort'" in caplog.text
    assert is_quarantined(redis, job.id)
    assert json_queue(redis).count == 0


def test_an_abandoned_job_naming_a_forbidden_failure_callback_no_longer_stops_the_worker(run_worker, redis):
    """Issue 15, defect 1: RQ's cleanup of abandoned jobs called the failure callback's refusal outside
    its error handling, so the worker quit before running anything, and so did the next one."""
    planted = plant_job(redis, "forbidden failure callback")
    place(redis, "started", planted)
    job = handlers.add.enqueue(2, 3)

    run_worker("default")
    run_worker("default")  # the next worker too

    job.refresh_from_db()
    assert (job.state, job.result) == (JobRow.State.SUCCEEDED, 5)
    assert is_quarantined(redis, planted)
    assert still_placed(redis, planted) == []


@pytest.mark.parametrize(
    ("where", "breakage"),
    [
        *[(where, "forbidden failure callback") for where in PLACES],
        *[("started", breakage) for breakage in [*BREAKAGES, MISSING_DATA]],
        *[("queue", breakage) for breakage in [*BREAKAGES, MISSING_DATA]],
    ],
)
def test_a_planted_or_damaged_job_anywhere_rq_loads_jobs_is_quarantined_and_the_worker_carries_on(
    run_worker, redis, where, breakage
):
    """Every place an RQ worker or its scheduler loads jobs from, and every way a job hash can be bad."""
    planted = plant_job(redis, breakage)
    place(redis, where, planted)
    job = handlers.add.enqueue(1, 1)

    run_worker("default", with_scheduler=True)

    job.refresh_from_db()
    assert job.state == JobRow.State.SUCCEEDED
    assert is_quarantined(redis, planted)
    assert still_placed(redis, planted) == []


def test_a_pickled_payload_is_never_unpickled(run_worker, redis, tmp_path):
    marker = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    job = json_queue(redis).enqueue("jobs_app.runner.execute", "x")
    redis.hset(f"rq:job:{job.id}", "data", zlib.compress(pickle.dumps((Exploit(), None, [], {}))))
    run_worker()
    assert not marker.exists(), "the pickle was loaded"
    # The worker could not decode it as JSON, so it ran nothing and set the job aside in quarantine.
    assert is_quarantined(redis, job.id)
    assert json_queue(redis).count == 0


def test_functions_allow_listed_in_settings_run(run_worker, redis):
    job = json_queue(redis).enqueue("tests.testapp.plain_rq.ping", result_ttl=60)
    with override_settings(JOBS_APP={"ALLOWED_RQ_FUNCTIONS": ["tests.testapp.plain_rq.ping"]}):
        run_worker()
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == "pong"


@pytest.mark.parametrize("worker_class", [Worker, SimpleWorker])
def test_the_worker_decodes_json_whatever_serializer_it_is_given(worker_class):
    worker = django_rq.get_worker("default", worker_class=worker_class, serializer="rq.serializers.DefaultSerializer")
    assert worker.serializer is JSONSerializer
    assert all(queue.serializer is JSONSerializer for queue in worker.queues)


def test_the_worker_listens_to_every_priority_high_first():
    worker = django_rq.get_worker("default", "email", worker_class=Worker)
    assert worker.queue_names() == ["default:high", "email:high", "default", "email", "default:low", "email:low"]
