"""jobs_app's worker runs only jobs_app's entry point and decodes only JSON."""

import os
import pickle
import zlib

import django_rq
import pytest
from django.test import override_settings
from rq import Queue
from rq.serializers import JSONSerializer

from jobs_app.models import Job
from jobs_app.worker import SimpleWorker, Worker

pytestmark = pytest.mark.django_db(transaction=True)


def json_queue(redis, name="default"):
    return Queue(name, connection=redis, serializer=JSONSerializer)


def test_a_planted_job_naming_another_callable_is_refused_and_never_called(run_worker, redis, tmp_path, caplog):
    marker = tmp_path / "pwned"
    planted = json_queue(redis).enqueue("os.system", f"touch {marker}")
    run_worker()

    assert not marker.exists(), "the planted command ran"
    # What the worker did with it: refused it, said so, and set it aside as failed, off the queue.
    assert f"Refused: RQ job {planted.id} names function 'os.system'" in caplog.text
    assert planted.id in json_queue(redis).failed_job_registry
    assert json_queue(redis).count == 0
    planted.refresh()
    assert planted.get_status() == "failed"
    assert "ForbiddenJobFunction" in planted.latest_result().exc_string
    assert not Job.objects.exists(), "nothing was recorded as a jobs_app job"


def test_a_planted_callback_is_refused_too(run_worker, redis, caplog):
    job = json_queue(redis).enqueue("tests.testapp.plain_rq.ping")
    # Were it imported and called, os.abort would end this test run on the spot.
    redis.hset(f"rq:job:{job.id}", "success_callback_name", "os.abort")
    with override_settings(JOBS_APP={"ALLOWED_RQ_FUNCTIONS": ["tests.testapp.plain_rq.ping"]}):
        run_worker()
    assert f"Refused: RQ job {job.id} names success callback 'os.abort'" in caplog.text
    assert job.id in json_queue(redis).failed_job_registry
    job.refresh()
    assert job.get_status() == "failed"


def test_a_pickled_payload_is_never_unpickled(run_worker, redis, tmp_path):
    marker = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    job = json_queue(redis).enqueue("jobs_app.runner.execute", "x")
    redis.hset(f"rq:job:{job.id}", "data", zlib.compress(pickle.dumps((Exploit(), None, [], {}))))
    run_worker()
    assert not marker.exists(), "the pickle was loaded"
    # The worker could not decode it as JSON, so it ran nothing and set the job aside as failed.
    assert job.id in json_queue(redis).failed_job_registry
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
