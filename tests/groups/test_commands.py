"""`manage.py failure_groups` and `manage.py retry_failed --group FINGERPRINT --rate N`."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from jobs_app.models import FailureGroup, Job
from tests.factories import FailureGroupFactory, JobFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def upstream():
    group = FailureGroupFactory(handler="test.add", error_type="shop.errors.Upstream")
    JobFactory.create_batch(2, failed=True, fingerprint=group.pk)
    return group


def test_the_table_lists_each_group_with_its_counts(upstream):
    FailureGroupFactory(handler="test.echo", status="resolved", regressed=True)
    lines = run("failure_groups").splitlines()
    assert lines[0].split() == ["fingerprint", "status", "jobs", "attempts", "last", "seen", "handler:", "cause"]
    row = next(line for line in lines if line.startswith(upstream.pk))
    assert row.split()[:4] == [upstream.pk, "open", "2", "3"]
    assert "test.add: shop.errors.Upstream: upstream returned <n>" in row
    assert any(" resolved! " in line for line in lines)  # regressed


def test_status_filter_and_json(upstream):
    FailureGroupFactory(status="muted")
    rows = json.loads(run("failure_groups", "--status", "open", "--json"))
    assert [(row["fingerprint"], row["jobs"]) for row in rows] == [(upstream.pk, 2)]
    assert run("failure_groups", "--status", "resolved") == "No failure groups.\n"


def test_backfill_fingerprints_older_rows_first():
    JobFactory(failed=True, error_message="order 7 failed")
    rows = json.loads(run("failure_groups", "--backfill", "--json"))
    assert [(row["message"], row["jobs"]) for row in rows] == [("order <n> failed", 1)]


def test_retry_failed_retries_one_group_at_a_rate(upstream, redis):
    output = run("retry_failed", "--group", upstream.pk, "--rate", "4")
    assert output.startswith(f"Scheduled 2 job(s) of group {upstream.pk} at 4 a second; the last runs at ")
    assert Job.objects.filter(state="scheduled").count() == 2
    again = json.loads(run("retry_failed", "--group", upstream.pk, "--json"))
    assert again == {"retried": 0, "rate": 10.0, "last_run_at": None}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--group", "0123456789abcdef"], "No failure group '0123456789abcdef'"),
        (["--rate", "5"], "--rate needs --group"),
        (["--rate", "0"], "--rate needs --group"),
    ],
)
def test_retry_failed_group_errors(args, error):
    with pytest.raises(CommandError, match=error):
        run("retry_failed", *args)


def test_a_bad_rate_is_a_command_error(upstream):
    with pytest.raises(CommandError, match="argument --rate: expected a number"):
        run("retry_failed", "--group", upstream.pk, "--rate", "fast")
    with pytest.raises(CommandError, match="--rate: the rate must be a number of jobs a second above 0"):
        run("retry_failed", "--group", upstream.pk, "--rate", "0")
    assert FailureGroup.objects.count() == 1 and not Job.objects.filter(state="scheduled").exists()
