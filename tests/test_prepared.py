"""prepared.py: on PostgreSQL the worker's claim and outcome are prepared once per connection; jobs run and are
recorded the same, prepared or not, and after anything that drops a connection's prepared statements."""

from __future__ import annotations

import gc
import weakref

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from jobs_app import services
from jobs_app.models import FailureGroup, Job
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _prepared_statements_on(settings):
    """On, as the demo project has it (the default is off)."""
    settings.JOBS_APP = {**settings.JOBS_APP, "PREPARED_STATEMENTS": True}


on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="server-side prepared statements are PostgreSQL's"
)


def prepared_statements() -> list[str]:
    """The statements prepared on this test's connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


def run_jobs(run_worker) -> tuple[Job, Job]:
    """One job that succeeds and one that fails for good, through a worker; both rows re-read."""
    succeeding, failing = handlers.add.enqueue(2, 3), handlers.always_fails.using(attempts=1).enqueue("kaput")
    run_worker()
    succeeding.refresh_from_db()
    failing.refresh_from_db()
    return succeeding, failing


def assert_recorded(succeeding: Job, failing: Job, *, occurrences: int = 1) -> None:
    assert (succeeding.state, succeeding.result, succeeding.history.get().outcome) == ("succeeded", 5, "succeeded")
    assert (failing.state, failing.error_message, failing.history.get().outcome) == ("failed", "kaput", "failed")
    assert FailureGroup.objects.get(fingerprint=failing.fingerprint).occurrences == occurrences


@on_postgresql
def test_a_statement_run_once_on_a_connection_is_not_prepared(run_worker):
    """A forking worker's work horse runs each statement once on its own connection: preparing would only add a
    round trip."""
    job = handlers.add.enqueue(2, 3)
    run_worker()
    job.refresh_from_db()
    assert (job.state, prepared_statements()) == ("succeeded", [])


@on_postgresql
def test_the_claim_and_both_outcomes_are_prepared_at_their_second_run(run_worker):
    assert_recorded(*run_jobs(run_worker))
    assert_recorded(*run_jobs(run_worker), occurrences=2)
    statements = prepared_statements()
    assert any(statement.startswith('UPDATE "jobs_app_job" SET "state" = $1') for statement in statements)
    outcomes = [statement for statement in statements if statement.startswith("WITH moved AS (UPDATE")]
    assert len(outcomes) == 2, "a success and a failure (which also counts its group) are two statements"


@on_postgresql
def test_nothing_is_prepared_when_turned_off(run_worker, settings):
    with override_settings(JOBS_APP={**settings.JOBS_APP, "PREPARED_STATEMENTS": False}):
        assert_recorded(*run_jobs(run_worker))
    assert prepared_statements() == []


@on_postgresql
def test_no_other_statement_is_prepared(run_worker):
    """Only the worker's two statements: the ORM's queries stay unprepared, as Django leaves them."""
    for _round in range(3):
        run_jobs(run_worker)
        Job.objects.filter(state="queued").count()
    assert all(statement.startswith(("UPDATE", "WITH moved")) for statement in prepared_statements())


def test_jobs_run_after_a_rollback_and_a_new_connection(run_worker):
    """A rollback (psycopg then deallocates every prepared statement) or a new connection prepares them again."""
    assert_recorded(*run_jobs(run_worker))
    assert_recorded(*run_jobs(run_worker), occurrences=2)
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        Job.objects.count()
        raise ZeroDivisionError
    assert_recorded(*run_jobs(run_worker), occurrences=3)
    assert_recorded(*run_jobs(run_worker), occurrences=4)
    connection.close()
    assert_recorded(*run_jobs(run_worker), occurrences=5)
    assert_recorded(*run_jobs(run_worker), occurrences=6)


def test_the_claim_is_still_seen_by_djangos_query_log():
    """Debug tools that read Django's query log (or wrap its cursor) still see the worker's statements, prepared
    (the second claim on the connection) or not."""
    jobs = [handlers.add.enqueue(1, 1), handlers.add.enqueue(2, 2)]
    with CaptureQueriesContext(connection) as queries:
        claimed = [services.claim(job.pk, worker_name="w") for job in jobs]
    assert [job.state for job in claimed] == ["running", "running"]
    assert len([query for query in queries.captured_queries if "UPDATE" in query["sql"]]) == 2


def test_every_run_of_the_worker_statements_goes_through_djangos_execute_wrappers(run_worker):
    """Instrumentation hooked on Django's cursor (`connection.execute_wrapper`: APM agents, query counters) sees
    each claim and outcome, also when the worker reuses its cursor for the same statement."""
    seen = []

    def spy(execute, sql, params, many, context):
        seen.append(sql.split(" ", 1)[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        for _round in range(3):
            run_jobs(run_worker)
    # Three rounds of one success and one failure: a claim and an outcome each.
    assert seen.count("UPDATE") >= 6
    assert (seen.count("WITH") if connection.vendor == "postgresql" else seen.count("INSERT")) >= 6


@on_postgresql
def test_a_closed_connection_is_let_go_with_its_statements(run_worker):
    """A long-lived worker reconnects (`CONN_MAX_AGE`, a lost server): the cursors it kept for its statements on
    the old connection do not keep that connection in memory."""
    assert_recorded(*run_jobs(run_worker))
    assert_recorded(*run_jobs(run_worker), occurrences=2)
    old = weakref.ref(connection.connection)
    connection.close()
    assert_recorded(*run_jobs(run_worker), occurrences=3)
    gc.collect()
    assert old() is None
