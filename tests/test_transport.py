"""transport: the RQ job that a push writes is the one RQ's own enqueue would write."""

import zlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rq import Queue
from rq.serializers import JSONSerializer

from jobs_app import transport
from jobs_app.conf import app_settings
from jobs_app.worker import SimpleWorker

pytestmark = pytest.mark.django_db(transaction=True)

# Timestamps differ by the moment; RQ writes these empty and the worker fills them in.
_LEFT_OUT = {b"created_at", b"enqueued_at", b"started_at", b"ended_at", b"last_heartbeat", b"worker_name"}
_LEFT_OUT |= {b"success_callback_name", b"failure_callback_name", b"stopped_callback_name", b"group_id"}


def rq_own_push(redis, queue_name, job_id, *, at=None):
    """What RQ's `create_job` and `enqueue_job` (or `schedule_job`) write for the same job."""
    queue = Queue(queue_name, connection=redis, serializer=JSONSerializer)
    rq_job = queue.create_job(
        transport.ENTRY_POINT,
        args=[job_id],
        job_id=job_id,
        timeout=transport.handler_timeout("default", None) + app_settings.TIMEOUT_MARGIN,
        result_ttl=0,
        failure_ttl=app_settings.RQ_FAILURE_TTL,
        description=f"testapp.add:{job_id}",
    )
    if at is None:
        queue.enqueue_job(rq_job)
    else:
        queue.schedule_job(rq_job, at)
    return {key: value for key, value in redis.hgetall(rq_job.key).items() if key not in _LEFT_OUT}


@pytest.mark.parametrize("scheduled", [False, True])
def test_a_push_writes_the_fields_and_keys_rq_itself_writes(redis, scheduled):
    at = timezone.now() + timedelta(hours=1) if scheduled else None
    ours, theirs = "0192aaaa-0000-7000-8000-000000000001", "0192aaaa-0000-7000-8000-000000000002"
    transport.push([transport.Dispatch(job_id=ours, handler="testapp.add", queue="default", run_at=at)])
    written = {key: value for key, value in redis.hgetall(f"rq:job:{ours}").items() if key not in _LEFT_OUT}
    expected = rq_own_push(redis, "default", theirs, at=at)
    assert {**written, b"description": b"-", b"data": b"-"} == {**expected, b"description": b"-", b"data": b"-"}
    # RQ's data: (function, instance, args, kwargs) as JSON.
    assert JSONSerializer.loads(zlib.decompress(written[b"data"])) == [transport.ENTRY_POINT, None, [ours], {}]
    if scheduled:
        assert redis.zscore("rq:scheduled:default", ours) == redis.zscore("rq:scheduled:default", theirs)
    else:
        assert redis.lrange("rq:queue:default", 0, -1) == [ours.encode(), theirs.encode()]
    assert redis.smembers("rq:queues") == {b"rq:queue:default"}


def test_a_pushed_job_runs_on_a_real_worker(redis):
    from tests.testapp import handlers

    job = handlers.add.enqueue(2, 3)
    SimpleWorker(["default"], connection=redis).work(burst=True)
    job.refresh_from_db()
    assert job.state == job.State.SUCCEEDED and job.result == 5


def test_a_workers_redis_clients_share_one_reading_of_redis_pys_version(redis):
    """redis-py names itself and its version to the server on each new connection; a forking worker's work horse
    makes one per job, so the version is read from the package's metadata once, not on every connection."""
    import redis as redis_py
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    first, second = (transport.waiting_connection(redis, Retry(NoBackoff(), 0)) for _ in range(2))
    first_info = first.connection_pool.connection_kwargs["driver_info"]
    assert first_info is second.connection_pool.connection_kwargs["driver_info"]
    assert (first_info.name, first_info.lib_version) == ("redis-py", redis_py.__version__)
    assert first.ping() and second.ping()
