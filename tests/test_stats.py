"""Per-handler timings from the attempt rows: runs, failure rate, p50/p95, throughput."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs_app import stats
from jobs_app.models import JobAttempt
from tests.factories import JobAttemptFactory, JobFactory


def test_percentiles_read_within_the_bucket():
    counts = [0] * (len(stats.TIMING_BOUNDS) + 1)
    assert stats.percentile(counts, 0.5) is None
    index = next(i for i, bound in enumerate(stats.TIMING_BOUNDS) if bound >= 1)
    counts[index] = 10
    median = stats.percentile(counts, 0.5)
    assert stats.TIMING_BOUNDS[index - 1] < median < stats.TIMING_BOUNDS[index]
    counts[-1] = 90  # longer than the last bound
    assert stats.percentile(counts, 0.95) == stats.TIMING_BOUNDS[-1]


@pytest.mark.django_db
def test_timings_per_handler_for_the_last_hour_and_day():
    now = timezone.now()
    job = JobFactory(handler="mail.send", succeeded=True)
    for seconds in (1, 1, 1, 2):  # the last hour
        JobAttemptFactory(
            job=job,
            outcome=JobAttempt.Outcome.SUCCEEDED,
            finished_at=now - timedelta(minutes=5),
            duration=timedelta(seconds=seconds),
        )
    JobAttemptFactory(job=job, finished_at=now - timedelta(minutes=10), duration=timedelta(seconds=10))  # failed
    JobAttemptFactory(job=job, finished_at=now - timedelta(hours=5), duration=timedelta(seconds=100))  # day only
    JobAttemptFactory(job=job, finished_at=now - timedelta(days=2), duration=timedelta(seconds=1))  # too old

    timings = stats.handler_timings(now=now)["mail.send"]

    hour, day = timings["last_hour"], timings["last_day"]
    assert (hour.runs, hour.failed, day.runs, day.failed) == (5, 1, 6, 2)
    assert hour.failure_rate == pytest.approx(0.2)
    assert 0.8 <= hour.p50 <= 1.25  # within a bucket (25 %) of 1 s
    assert 8 <= hour.p95 <= 12.5
    assert 80 <= day.p95 <= 125
    assert hour.per_minute == pytest.approx(5 / 60)
    assert day.per_minute == pytest.approx(6 / 1440)


@pytest.mark.django_db
def test_the_database_puts_each_duration_in_the_bucket_python_would():
    import bisect

    durations = [0, 0.001, 0.0011, 0.05, 0.9999, 1, 7.3, 59.5, 3600, 10_000]
    job = JobFactory()
    for seconds in durations:
        JobAttemptFactory(job=job, duration=timedelta(seconds=seconds))
    rows = (
        JobAttempt.objects.annotate(bucket=stats._bucket_of_duration(0, len(stats.TIMING_BOUNDS)))
        .order_by("duration")
        .values_list("duration", "bucket")
    )
    for duration, bucket in rows:
        assert bucket == bisect.bisect_left(stats.TIMING_BOUNDS, duration.total_seconds()), duration
