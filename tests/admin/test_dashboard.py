"""The dashboard: jobs per state and queue, RQ queue lengths, workers, and the attempts-per-hour chart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs_app import stats, transport
from jobs_app.models import JobAttempt
from tests.factories import JobAttemptFactory, JobFactory

pytestmark = pytest.mark.django_db

URL = "/admin/jobs_app/job/dashboard/"


def test_counts_per_state_and_queue_and_rq_lengths(operator_client):
    JobFactory.create_batch(2, failed=True, queue="email")
    JobFactory(dead=True, queue="email")
    queued = JobFactory(queue="cleanup")
    transport.push([transport.Dispatch(job_id=str(queued.pk), handler=queued.handler, queue="cleanup")])

    response = operator_client.get(URL)

    assert response.status_code == 200
    rows = {row["queue"]: row for row in response.context["rows"]}
    states = ["scheduled", "queued", "running", "succeeded", "failed", "dead", "cancelled"]
    assert dict(zip(states, rows["email"]["counts"], strict=True))["failed"] == 2
    assert dict(zip(states, rows["email"]["counts"], strict=True))["dead"] == 1
    assert rows["cleanup"]["rq_length"] == 1
    # A queued job and no worker alive: the dashboard warns.
    assert rows["cleanup"]["no_worker"] is True
    assert b"none: queued jobs are waiting" in response.content


def test_the_chart_is_inline_svg_with_a_bar_per_outcome_and_hour(operator_client):
    now = timezone.now()
    JobAttemptFactory.create_batch(3, outcome=JobAttempt.Outcome.SUCCEEDED, finished_at=now)
    JobAttemptFactory(outcome=JobAttempt.Outcome.FAILED, finished_at=now - timedelta(hours=2))

    html = operator_client.get(URL).content.decode()

    assert '<svg xmlns="http://www.w3.org/2000/svg" class="jobs-chart"' in html
    assert html.count("<rect ") == 48
    assert f"{now:%H}:00: 3 succeeded" in html
    assert f"{now - timedelta(hours=2):%H}:00: 1 failed" in html
    assert "<script" not in html.split('<div id="content-main"', 1)[1]


def test_linked_from_the_admin_index_and_the_lists(operator_client):
    for url in ("/admin/", "/admin/jobs_app/job/", "/admin/jobs_app/failedjob/"):
        assert f'href="{reverse("admin:jobs_app_job_dashboard")}"' in operator_client.get(url).content.decode()


def test_attempts_per_hour_counts_each_hour_and_fills_gaps_with_zeros():
    now = timezone.now().replace(minute=30)
    JobAttemptFactory(outcome=JobAttempt.Outcome.SUCCEEDED, finished_at=now)
    JobAttemptFactory(outcome=JobAttempt.Outcome.KILLED, finished_at=now - timedelta(hours=1))
    JobAttemptFactory(outcome=JobAttempt.Outcome.FAILED, finished_at=now - timedelta(hours=1, minutes=5))
    JobAttemptFactory(outcome=JobAttempt.Outcome.FAILED, finished_at=now - timedelta(hours=30))  # too old

    series = stats.attempts_per_hour(24, now=now)

    assert len(series) == 24
    assert series[-1].start == now.replace(minute=0, second=0, microsecond=0)
    assert (series[-1].succeeded, series[-1].failed) == (1, 0)
    assert (series[-2].succeeded, series[-2].failed) == (0, 2)
    assert sum(hour.failed + hour.succeeded for hour in series[:-2]) == 0


def test_each_handler_shows_its_runs_failure_rate_durations_and_throughput(operator_client):
    job = JobFactory(handler="test.add", succeeded=True)
    JobAttemptFactory.create_batch(3, job=job, outcome=JobAttempt.Outcome.SUCCEEDED, duration=timedelta(seconds=2))
    JobAttemptFactory(job=job, duration=timedelta(seconds=2))

    response = operator_client.get(URL)

    [row] = [row for row in response.context["timings"] if row["handler"] == "test.add"]
    hour, day = row["windows"]
    assert (hour.runs, hour.failed, day.runs) == (4, 1, 4)
    table = response.content.decode().split('id="handler-timings"')[1].split("</table>")[0]
    assert "test.add" in table and "25 %" in table
    # Registered handlers without attempts are listed too (so that they can be paused).
    assert any(row["handler"] == "test.echo" and row["windows"] == [None, None] for row in response.context["timings"])


def test_the_dashboard_makes_the_same_number_of_queries_with_more_jobs_and_attempts(operator_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert operator_client.get(URL).status_code == 200
        return len(captured)

    JobAttemptFactory(outcome=JobAttempt.Outcome.SUCCEEDED)
    small = queries()
    for handler in ("a", "b", "c"):
        job = JobFactory(handler=handler, succeeded=True)
        JobAttemptFactory.create_batch(20, job=job, outcome=JobAttempt.Outcome.SUCCEEDED)
    assert queries() == small
    assert small <= 12  # the lists' budget (tests/admin/test_scale.py)
