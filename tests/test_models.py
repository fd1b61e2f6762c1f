"""The Job queryset's own helpers, and which of Job's indexes a row sits in."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Value
from django.utils import timezone

from jobs_app import services
from jobs_app.models import FailureGroup, Job, column
from tests.factories import JobFactory
from tests.testapp import handlers

pytestmark = pytest.mark.django_db


def test_with_pks_matches_exactly_the_keys_given_in_any_order_and_not_those_between():
    jobs = sorted(JobFactory.create_batch(5), key=lambda job: job.pk)
    chosen = [jobs[3].pk, jobs[0].pk, jobs[4].pk]

    assert set(Job.objects.with_pks(chosen).values_list("pk", flat=True)) == set(chosen)
    assert list(Job.objects.with_pks([])) == []


# Job's indexes: on PostgreSQL every UPDATE of `state` writes a new entry into each index whose condition the new
# row meets (no HOT update, `state` being indexed), so the path of nearly every job (queued, running, succeeded)
# should meet as few conditions as the queries allow.

HOT_PATH_COLUMNS = ("state", "failed_at", "finished_at", "scheduled_for", "needs_push", "idempotency_key")


def partial_indexes_holding(job: Job) -> list[str]:
    """The partial indexes (and unique constraints) that hold an entry for this row as it is."""
    against = {name: Value(getattr(job, name), output_field=column(Job, name)) for name in HOT_PATH_COLUMNS}
    partial = [*Job._meta.indexes, *Job._meta.constraints]
    return [item.name for item in partial if item.condition is not None and item.condition.check(against)]


def test_a_job_that_runs_once_and_succeeds_has_no_entry_in_any_partial_index():
    job = handlers.add.enqueue(2, 3)
    assert partial_indexes_holding(job) == []
    claimed = services.claim(job.pk, worker_name="w")
    assert (claimed.state, partial_indexes_holding(claimed)) == (Job.State.RUNNING, [])
    services.record_success(claimed, started_at=claimed.started_at, result=5)
    job.refresh_from_db()
    assert (job.state, partial_indexes_holding(job)) == (Job.State.SUCCEEDED, [])


def test_the_full_indexes_every_state_change_writes_to_are_these_four():
    """A fifth full index costs every job three more index entries on PostgreSQL: make it partial if its queries
    allow (they name the state, or imply a column is not null)."""
    full = sorted(index.name for index in Job._meta.indexes if index.condition is None)
    assert full == ["jobs_created_at", "jobs_handler_state", "jobs_queue_state", "jobs_state_id"]


def test_no_failure_group_index_holds_a_column_every_failure_changes():
    """Every failure changes its group's `last_seen`, `occurrences` and `hourly`: kept out of every index, PostgreSQL
    updates the hot row in place (HOT), with no index entry written (tests/groups/test_recording.py)."""
    indexed = {field.lstrip("-") for index in FailureGroup._meta.indexes for field in index.fields}
    assert indexed == {"status", "handler"}


def test_scheduled_and_dead_jobs_have_their_entries():
    assert partial_indexes_holding(JobFactory(state=Job.State.SCHEDULED, scheduled_for=timezone.now())) == [
        "jobs_scheduled_for"
    ]
    assert "jobs_dead_finished_at" in partial_indexes_holding(JobFactory(dead=True))


def index_used_by(queryset) -> str:
    """The plan of `queryset` with a sequential scan ruled out (a test's few rows would rightly be scanned)."""
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            return queryset.explain()
    return queryset.explain()


def test_the_repairs_overdue_look_and_the_dead_alert_read_their_partial_indexes():
    now = timezone.now()
    JobFactory.create_batch(3, state=Job.State.SCHEDULED, scheduled_for=now - timedelta(hours=1))
    JobFactory.create_batch(3, dead=True)
    overdue = Job.objects.filter(
        state=Job.State.SCHEDULED, needs_push=False, queue__in=["default"], scheduled_for__lte=now
    )
    dead = Job.objects.filter(state=Job.State.DEAD, finished_at__gte=now - timedelta(hours=1))
    assert (overdue.count(), dead.count()) == (3, 3)
    for queryset, partial in (
        (overdue.values_list("pk", "queue"), "jobs_scheduled_for"),
        (dead, "jobs_dead_finished_at"),
    ):
        plan = index_used_by(queryset)
        assert "SCAN jobs_app_job" not in plan and "Seq Scan" not in plan, plan
        # SQLite without statistics may as well take (queue, state) for six rows; with them it takes the partial
        # index, as PostgreSQL does here (bench/run.py's populated tables, docs/benchmarks.md).
        assert connection.vendor != "postgresql" or partial in plan, plan
