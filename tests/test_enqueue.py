"""Enqueueing: a row in the caller's transaction, a push to RQ on commit, clear errors at once."""

import json
import logging
import zlib
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rq import Queue
from rq.job import Job as RQJob
from rq.serializers import JSONSerializer

from jobs_app import Call, transport
from jobs_app.models import Job
from jobs_app.registry import Handler
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)


def rq_job(redis, job):
    return RQJob.fetch(str(job.pk), connection=redis, serializer=JSONSerializer)


def test_enqueue_records_a_queued_row_with_the_handlers_options(redis):
    job = handlers.always_fails.enqueue("kaput")
    row = Job.objects.get(pk=job.pk)
    assert (row.handler, row.queue, row.state, row.args, row.kwargs) == (
        "test.always_fails",
        "default",
        Job.State.QUEUED,
        ["kaput"],
        {},
    )
    assert (row.max_attempts, row.backoff, row.attempts, row.cycle) == (
        3,
        handlers.always_fails.backoff.to_dict(),
        0,
        1,
    )


def test_the_rows_uuid_is_the_rq_job_id_and_rq_carries_only_that_id(redis):
    job = handlers.echo.enqueue("secret", token="abc")
    queued = rq_job(redis, job)
    assert queued.func_name == transport.ENTRY_POINT
    assert queued.args == [str(job.pk)]
    assert queued.kwargs == {}
    assert Queue("email", connection=redis).job_ids == [str(job.pk)]


def test_job_ids_are_time_ordered_uuids(redis):
    first = handlers.add.enqueue(1, 2)
    rest = handlers.add.enqueue_many([(n, n) for n in range(3)])
    ids = [first.pk, *(job.pk for job in rest)]
    assert {job_id.version for job_id in ids} == {7}
    assert sorted(ids) == ids  # later jobs sort after earlier ones, as in the admin's id order


def test_rq_stores_the_payload_as_json_never_pickle(redis):
    job = handlers.add.enqueue(1, 2)
    raw = redis.hget(f"rq:job:{job.pk}", "data")
    assert json.loads(zlib.decompress(raw)) == [transport.ENTRY_POINT, None, [str(job.pk)], {}]


def test_using_options_apply_to_that_enqueue(redis):
    job = handlers.add.using(attempts=7, queue="cleanup").enqueue(1, 2)
    assert (job.max_attempts, job.queue) == (7, "cleanup")
    assert Queue("cleanup", connection=redis).job_ids == [str(job.pk)]


def test_high_and_low_priority_jobs_go_to_their_own_rq_queues(redis):
    high = handlers.add.using(priority="high").enqueue(1, 1)
    low = handlers.add.using(priority="low").enqueue(1, 1)
    assert Queue("default:high", connection=redis).job_ids == [str(high.pk)]
    assert Queue("default:low", connection=redis).job_ids == [str(low.pk)]


def test_a_rolled_back_transaction_leaves_no_row_and_pushes_nothing(redis):
    with pytest.raises(RuntimeError), transaction.atomic():
        handlers.add.enqueue(1, 2)
        raise RuntimeError("the request failed")
    assert not Job.objects.exists()
    assert Queue("default", connection=redis).count == 0


def test_inside_a_transaction_the_push_waits_for_the_commit(redis):
    with transaction.atomic():
        job = handlers.add.enqueue(1, 2)
        assert Queue("default", connection=redis).count == 0
    assert Queue("default", connection=redis).job_ids == [str(job.pk)]


def test_arguments_that_are_not_json_raise_type_error_naming_the_argument():
    with pytest.raises(TypeError, match=r"test.echo: argument 2 \(object\) is not JSON-serialisable"):
        handlers.echo.enqueue("fine", object())
    with pytest.raises(TypeError, match=r"keyword argument 'when' \(datetime\)"):
        handlers.echo.enqueue(when=timezone.now())
    with pytest.raises(TypeError, match=r"argument 1 \(float\)"):
        handlers.echo.enqueue(float("nan"))
    assert not Job.objects.exists()


@override_settings(JOBS_APP={"MAX_PAYLOAD_BYTES": 100})
def test_a_payload_over_the_limit_raises_value_error():
    with pytest.raises(ValueError, match=r"over the 100-byte limit"):
        handlers.echo.enqueue("x" * 200)
    assert not Job.objects.exists()


def test_an_unknown_queue_raises_value_error_at_enqueue():
    with pytest.raises(ValueError, match="Queue 'nowhere' is not in settings.RQ_QUEUES"):
        handlers.add.using(queue="nowhere").enqueue(1, 2)


def test_an_unknown_queue_is_a_configuration_error():
    from django.core.exceptions import ImproperlyConfigured

    from jobs_app.exceptions import UnknownQueue

    with pytest.raises(UnknownQueue) as raised:
        handlers.add.using(queue="nowhere").enqueue(1, 2)
    assert isinstance(raised.value, ImproperlyConfigured)
    assert not Job.objects.exists()


def test_redis_down_at_commit_keeps_the_row_marks_it_and_raises_nothing(caplog):
    config = {name: {**value, "URL": "redis://127.0.0.1:1/0"} for name, value in transport.settings.RQ_QUEUES.items()}
    with override_settings(RQ_QUEUES=config), caplog.at_level(logging.ERROR, logger="jobs_app"):
        job = handlers.add.enqueue(1, 2)
    row = Job.objects.get(pk=job.pk)
    assert (row.state, row.needs_push) == (Job.State.QUEUED, True)
    assert "Could not push 1 job(s) to Redis" in caplog.text


def test_delay_makes_a_scheduled_row_and_an_rq_scheduled_job(redis):
    before = timezone.now()
    job = handlers.add.using(delay=timedelta(minutes=5)).enqueue(1, 2)
    assert job.state == Job.State.SCHEDULED
    assert before + timedelta(minutes=5) <= job.scheduled_for <= timezone.now() + timedelta(minutes=5)
    registry = Queue("default", connection=redis).scheduled_job_registry
    assert registry.get_job_ids() == [str(job.pk)]
    assert abs(registry.get_scheduled_time(str(job.pk)) - job.scheduled_for) < timedelta(seconds=1)


def test_at_in_the_future_schedules_and_at_in_the_past_queues(redis):
    later = handlers.add.using(at=timezone.now() + timedelta(hours=1)).enqueue(1, 2)
    earlier = handlers.add.using(at=timezone.now() - timedelta(hours=1)).enqueue(1, 2)
    assert (later.state, earlier.state) == (Job.State.SCHEDULED, Job.State.QUEUED)
    assert Queue("default", connection=redis).job_ids == [str(earlier.pk)]


def test_an_idempotency_key_held_by_an_unfinished_job_returns_that_job(redis):
    first = handlers.add.using(idempotency_key="welcome:42").enqueue(1, 2)
    second = handlers.add.using(idempotency_key="welcome:42").enqueue(3, 4)
    assert second.pk == first.pk
    assert Job.objects.count() == 1
    assert Queue("default", connection=redis).count == 1


@pytest.mark.parametrize("state", ["scheduled", "queued", "running", "failed"])
def test_every_unfinished_state_holds_the_key(state):
    first = handlers.add.using(idempotency_key="k").enqueue(1, 2)
    Job.objects.filter(pk=first.pk).update(state=state)
    assert handlers.add.using(idempotency_key="k").enqueue(1, 2).pk == first.pk


@pytest.mark.parametrize("state", ["succeeded", "dead", "cancelled"])
def test_a_finished_job_frees_the_key(state):
    first = handlers.add.using(idempotency_key="k").enqueue(1, 2)
    Job.objects.filter(pk=first.pk).update(state=state)
    assert handlers.add.using(idempotency_key="k").enqueue(1, 2).pk != first.pk


def test_enqueue_many_records_every_job_and_pushes_them_all(redis, django_assert_max_num_queries):
    # Batches of 1,000 jobs: one INSERT ... SELECT FROM unnest on PostgreSQL, one executemany elsewhere.
    with django_assert_max_num_queries(100):
        jobs = handlers.echo.enqueue_many([(n,) for n in range(2500)] + [Call("x", flag=True)])
    assert len(jobs) == Job.objects.filter(handler="test.echo", state=Job.State.QUEUED).count() == 2501
    assert Job.objects.get(pk=jobs[-1].pk).kwargs == {"flag": True}
    assert Queue("email", connection=redis).count == 2501


def test_enqueue_many_checks_every_call_before_writing_anything():
    with pytest.raises(TypeError, match=r"argument 1 \(object\)"):
        handlers.echo.enqueue_many([(1,), (object(),)])
    with pytest.raises(TypeError, match="tuples of arguments or Call"):
        handlers.echo.enqueue_many([1])
    assert not Job.objects.exists()


def test_enqueue_many_refuses_one_idempotency_key_for_many_jobs():
    with pytest.raises(TypeError, match="cannot share one idempotency_key"):
        handlers.echo.using(idempotency_key="k").enqueue_many([(1,), (2,)])


def test_enqueue_many_rows_read_back_as_the_jobs_it_returned(redis):
    calls = [((n, "é"), {}) for n in range(3)] + [((), {"flag": True, "nested": {"list": [1, None]}})]
    jobs = handlers.echo.using(priority="high", delay=60, attempts=5).enqueue_many(
        [Call(*args, **kwargs) for args, kwargs in calls]
    )
    fields = [field.attname for field in Job._meta.concrete_fields]
    stored = {job.pk: job for job in Job.objects.filter(pk__in=[job.pk for job in jobs])}
    assert len({job.pk for job in jobs}) == len(calls)
    for job in jobs:
        assert [getattr(stored[job.pk], name) for name in fields] == [getattr(job, name) for name in fields]
    assert [(job.args, job.kwargs) for job in jobs] == [([n, "é"], {}) for n in range(3)] + [
        ([], {"flag": True, "nested": {"list": [1, None]}})
    ]
    assert {job.state for job in jobs} == {Job.State.SCHEDULED}


def test_one_by_one_enqueues_read_back_as_the_jobs_they_returned(redis):
    # Every enqueue of a handler starts from one prototype row: each job still gets its own id, moment,
    # arguments and options, and changing a returned job changes neither the next one nor the handler.
    first = handlers.echo.enqueue(1, word="é")
    first.backoff["delay"] = 99
    first.args.append("changed")
    later = handlers.echo.using(delay=60, priority="low").enqueue(2)
    keyed = handlers.echo.using(idempotency_key="one-by-one").enqueue(4)
    again = handlers.echo.enqueue(3)
    fields = [field.attname for field in Job._meta.concrete_fields]
    for job, expected in ((later, ([2], {})), (keyed, ([4], {})), (again, ([3], {}))):
        stored = Job.objects.get(pk=job.pk)
        assert [getattr(stored, name) for name in fields] == [getattr(job, name) for name in fields]
        assert (stored.args, stored.kwargs, stored.backoff) == (*expected, handlers.echo.backoff.to_dict())
    assert Job.objects.get(pk=first.pk).args == [1]
    assert (later.state, later.priority, again.state, again.priority) == ("scheduled", "low", "queued", "normal")
    assert (keyed.idempotency_key, again.idempotency_key) == ("one-by-one", None)
    assert len({first.pk, later.pk, keyed.pk, again.pk}) == 4
    assert first.created_at <= later.created_at <= again.created_at


def test_an_enqueue_in_the_callers_transaction_is_one_insert_and_no_savepoint(redis):
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            job = handlers.echo.enqueue(1, word="é")
    assert [query["sql"].split(" ", 2)[:2] for query in queries] == [["INSERT", "INTO"]]
    assert Job.objects.get(pk=job.pk).args == [1]


def test_a_handlers_options_with_quotes_and_percent_signs_are_stored_as_given(redis):
    # One job's INSERT carries its handler's options as SQL literals: quoting must keep them exact.
    odd = Handler(handlers.echo.func, name="it's 100% %s %(name)s \\ done", timeout=2.5, attempts=4)
    job = odd.using(delay=60).enqueue("%s", quote="'")
    stored = Job.objects.get(pk=job.pk)
    assert (stored.handler, stored.args, stored.kwargs) == ("it's 100% %s %(name)s \\ done", ["%s"], {"quote": "'"})
    assert (stored.timeout, stored.max_attempts, stored.state) == (2.5, 4, Job.State.SCHEDULED)
    assert stored.backoff == odd.backoff.to_dict()


# Edge cases (issue 15, defect 9); the whole class of unstorable arguments is in test_payload.py.


def test_nesting_ten_thousand_deep_is_the_documented_type_error_not_recursion_error():
    value: list = []
    for _ in range(10_000):
        value = [value]
    with pytest.raises(TypeError, match="nested more than"):
        handlers.echo.enqueue(value)
    assert not Job.objects.exists()


def test_keys_that_collide_once_made_json_are_an_error_not_silently_merged():
    with pytest.raises(TypeError, match="two keys that are both '1' in JSON"):
        handlers.echo.enqueue({1: "a", "1": "b"})
    assert not Job.objects.exists()


@pytest.mark.parametrize("option", ["delay", "timeout"])
@pytest.mark.parametrize(
    "seconds", [1e12, timedelta(days=999_999_999), 10**400], ids=["1e12", "max-timedelta", "10**400"]
)
def test_a_time_past_datetimes_range_is_a_clear_value_error(option, seconds):
    with pytest.raises(ValueError, match=f"{option} must be at most"):
        handlers.add.using(**{option: seconds}).enqueue(1, 2)
    assert not Job.objects.exists()


@pytest.mark.parametrize("offset", [timedelta(hours=-5), timedelta(0)])
def test_an_at_near_the_end_of_datetimes_range_is_a_clear_value_error(offset):
    from datetime import datetime
    from datetime import timezone as tz

    with pytest.raises(ValueError, match="at= must be within 100 years"):
        handlers.add.using(at=datetime(9999, 12, 31, 23, tzinfo=tz(offset))).enqueue(1, 2)
    assert not Job.objects.exists()


def test_the_longest_delay_accepted_still_schedules():
    from jobs_app.policy import MAX_SECONDS

    job = handlers.add.using(delay=MAX_SECONDS).enqueue(1, 2)
    assert job.state == Job.State.SCHEDULED
    assert job.scheduled_for > timezone.now() + timedelta(days=365 * 99)


@pytest.mark.parametrize("key", ["\ud800", "nul\x00"])
def test_an_idempotency_key_that_cannot_be_stored_is_a_value_error(key):
    with pytest.raises(ValueError, match="idempotency_key must be"):
        handlers.add.using(idempotency_key=key).enqueue(1, 2)
    assert not Job.objects.exists()
