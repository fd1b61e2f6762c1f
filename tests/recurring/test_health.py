"""A recurring job that stops succeeding turns health red: the API, check_queue and the dashboard."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs_app import recurring
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

HEALTH = "/api/jobs/health"
DASHBOARD = "/admin/jobs_app/job/dashboard/"


def daily_sync_succeeded(hours_ago: float):
    at = timezone.now() - timedelta(hours=hours_ago)
    return JobFactory(handler="test.daily_sync", succeeded=True, created_at=at, started_at=at, finished_at=at)


def test_a_recent_success_is_healthy(admin_client):
    daily_sync_succeeded(hours_ago=2)

    assert admin_client.get(HEALTH).status_code == 200
    call_command("check_queue", stdout=StringIO())  # exit 0: no CommandError


def test_a_stale_recurring_job_makes_the_health_endpoint_503_naming_it(admin_client):
    daily_sync_succeeded(hours_ago=31)  # its max_interval is 30 hours

    response = admin_client.get(HEALTH)

    assert response.status_code == 503
    [reason] = response.json()["reasons"]
    assert "test.daily_sync" in reason and "108000 s" in reason


def test_a_stale_recurring_job_makes_check_queue_exit_1():
    daily_sync_succeeded(hours_ago=31)
    out = StringIO()

    with pytest.raises(CommandError, match="Recurring job 'test.daily_sync' has not succeeded") as raised:
        call_command("check_queue", "--json", stdout=out)

    assert raised.value.returncode == 1
    assert json.loads(out.getvalue())["stale_recurring"] == ["test.daily_sync"]


def test_failures_since_the_last_success_do_not_count_as_health(admin_client):
    daily_sync_succeeded(hours_ago=31)
    JobFactory(handler="test.daily_sync", failed=True)

    assert admin_client.get(HEALTH).status_code == 503


def test_a_handler_that_never_ran_waits_for_its_first_slot():
    assert recurring.stale_reasons() == []


def test_controlled_time_turns_a_healthy_job_stale():
    daily_sync_succeeded(hours_ago=1)

    assert recurring.stale_reasons() == []
    assert [s.handler for s in recurring.statuses(now=timezone.now() + timedelta(hours=30)) if s.stale] == [
        "test.daily_sync"
    ]


def test_the_dashboard_lists_recurring_jobs_with_schedule_last_and_next_run_and_health(admin_client):
    daily_sync_succeeded(hours_ago=31)

    response = admin_client.get(DASHBOARD)

    statuses = {status.handler: status for status in response.context["recurring"]}
    assert statuses["test.daily_sync"].stale and statuses["test.daily_sync"].last_outcome == "succeeded"
    assert not statuses["test.nightly"].stale and statuses["test.nightly"].last_run is None
    html = response.content.decode()
    assert "Recurring jobs" in html and "cron 0 0 * * *" in html and "every 1 day" in html
    assert "stale: no success within 108000 s" in html


def test_check_queue_prints_a_table_of_recurring_jobs():
    daily_sync_succeeded(hours_ago=31)
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("check_queue", stdout=out)

    recurring_table = out.getvalue().split("\n\n")[1].splitlines()
    assert recurring_table[0].split()[:2] == ["recurring", "schedule"]
    rows = {line.split()[0]: line for line in recurring_table[1:]}
    assert rows["test.daily_sync"].rstrip().endswith("STALE")
    assert "cron 0 0 * * *" in rows["test.nightly"] and "never" in rows["test.nightly"]
