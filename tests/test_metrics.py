"""The attempt counters in Redis: added to by every recorded attempt, read back as true counters."""

from __future__ import annotations

import pytest

from jobs_app import metrics
from jobs_app.models import Job
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)


def test_each_duration_falls_in_the_first_bucket_that_holds_it():
    assert metrics.bucket_of(0) == "0.005"
    assert metrics.bucket_of(0.005) == "0.005"
    assert metrics.bucket_of(0.3) == "0.5"
    assert metrics.bucket_of(1) == "1.0"
    assert metrics.bucket_of(10_000) == "+Inf"


def test_recorded_attempts_add_up_per_handler_and_outcome_with_a_cumulative_histogram(redis):
    metrics.record_attempt("mail.send", "succeeded", 0.02)
    metrics.record_attempt("mail.send", "succeeded", 0.3)
    metrics.record_attempt("mail.send", "failed", 4000)
    counters = metrics.read_counters()
    assert counters.attempts == {("mail.send", "succeeded"): 2, ("mail.send", "failed"): 1}
    histogram = counters.durations["mail.send"]
    buckets = dict(histogram.buckets)
    assert (buckets["0.01"], buckets["0.025"], buckets["0.5"], buckets["1800.0"], buckets["+Inf"]) == (0, 1, 2, 2, 3)
    assert histogram.count == 3
    assert histogram.sum == pytest.approx(4000.32)


def test_a_worker_counts_every_outcome_and_deleting_the_rows_keeps_the_counts(redis, run_worker):
    handlers.add.enqueue(1, 2)
    handlers.add.enqueue(3, 4)
    handlers.permanent.enqueue()
    run_worker("default")
    Job.objects.all().delete()  # what the retention purge does to old rows
    counters = metrics.read_counters()
    assert counters.attempts == {("test.add", "succeeded"): 2, ("test.permanent", "failed"): 1}
    assert counters.durations["test.add"].count == 2


def test_redis_being_down_loses_the_count_not_the_attempt(redis, run_worker, settings, caplog):
    job = handlers.add.enqueue(1, 2)
    run_worker("default")
    redis.delete(metrics.COUNTERS_KEY)
    # Point the control connection at a port where nothing listens: the count is lost, with a warning.
    from jobs_app import transport

    queues = {name: {**config, "URL": "redis://127.0.0.1:9/0"} for name, config in settings.RQ_QUEUES.items()}
    settings.RQ_QUEUES = queues
    try:
        metrics.record_attempt("test.add", "succeeded", 0.1)
    finally:
        transport.reset()
    assert "not counted in the metrics" in caplog.text
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
