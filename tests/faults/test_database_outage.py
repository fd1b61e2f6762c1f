"""The database unreachable from a worker: while an attempt records its outcome, and when a worker
claims a job. No job is marked succeeded without its row; once the database is back, it runs again.

PostgreSQL only: the test closes the database to new connections and terminates the worker's
(`ALTER DATABASE ... ALLOW_CONNECTIONS false` and `pg_terminate_backend`), keeping its own. SQLite
has no server to lose: its file is always there, and a lock only makes writers wait.
"""

import time
from contextlib import contextmanager

import pytest
from django.db import connection

from jobs_app import runner
from jobs_app.models import Job, JobAttempt
from jobs_app.stats import current_jobs
from tests.faults.consistency import assert_consistent
from tests.faults.processes import sweep_once
from tests.polling import wait_for
from tests.testapp import fault_handlers

pytestmark = [
    pytest.mark.faults,
    pytest.mark.subprocess,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs a database server to cut off; SQLite's file cannot become unreachable (run on PostgreSQL)",
    ),
]


@contextmanager
def database_unreachable():
    """Every other session of the test database is ended and no new one may start, until the block ends.

    Done from a maintenance session on the `postgres` database (a database cannot close itself).
    """
    import psycopg

    settings = connection.settings_dict
    name = connection.ops.quote_name(settings["NAME"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_pid = cursor.fetchone()[0]
    params = {"host": settings["HOST"], "port": settings["PORT"], "user": settings["USER"]}
    with psycopg.connect(dbname="postgres", password=settings["PASSWORD"] or None, autocommit=True, **params) as admin:
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                [settings["NAME"], own_pid],
            )
            yield
        finally:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


def rq_status(rq_redis, job) -> str | None:
    status = rq_redis.hget(f"rq:job:{job.pk}", "status")
    return status.decode() if status else None


def test_a_result_that_cannot_be_recorded_is_not_succeeded_and_runs_again_once_the_database_is_back(
    processes, rq_redis, tmp_path
):
    processes.worker("faults-db")
    job = fault_handlers.hold.enqueue(str(tmp_path))
    wait_for(lambda: (tmp_path / "started-1").exists(), message="the job to start")

    with database_unreachable():
        (tmp_path / "release").touch()  # the handler returns now; recording its result fails
        wait_for(lambda: current_jobs().get("faults-db") != str(job.pk), message="the attempt to end")
        assert rq_status(rq_redis, job) == "failed"  # RQ saw the failure: nothing claims success
        job.refresh_from_db()
        assert (job.state, job.result) == (Job.State.RUNNING, None)
        assert not job.history.exists()
    assert "OperationalError" in processes.log("faults-db")

    wait_for(lambda: sweep_once(processes)["details"]["killed"], timeout=30, message="the sweeper's repair")
    wait_for(lambda: Job.objects.get(pk=job.pk).state == Job.State.SUCCEEDED, message="the job to run again")
    job.refresh_from_db()
    assert (job.attempts, job.result) == (2, 2)
    assert list(job.history.values_list("outcome", flat=True)) == [
        JobAttempt.Outcome.KILLED,
        JobAttempt.Outcome.SUCCEEDED,
    ]
    assert "could not record the outcome" in job.history.get(number=1).error_message
    assert_consistent()


def test_a_job_a_worker_could_not_claim_runs_once_the_database_is_back(processes, rq_redis, tmp_path):
    processes.worker("faults-db-claim")
    wait_for(lambda: "faults-db-claim" in current_jobs(), message="the worker to start")

    with database_unreachable():
        job = fault_handlers.count.enqueue(str(tmp_path))  # this test's own session is kept
        wait_for(lambda: rq_status(rq_redis, job) == "failed", message="the claim to fail")
        assert Job.objects.get(pk=job.pk).state == Job.State.QUEUED

    wait_for(lambda: sweep_once(processes)["details"]["pushed"], timeout=30, message="the sweeper's repair")
    wait_for(lambda: Job.objects.get(pk=job.pk).state == Job.State.SUCCEEDED, message="the job to run")
    assert len(list(tmp_path.glob(f"ran-{job.pk}-*"))) == 1
    assert list(job.history.values_list("outcome", flat=True)) == [JobAttempt.Outcome.SUCCEEDED]
    assert_consistent()


def test_a_pool_process_whose_idle_connection_was_ended_runs_its_next_job_on_a_new_one(processes, tmp_path):
    # The health check before a job (CONN_HEALTH_CHECKS) is skipped between jobs in quick succession, never
    # after the connection has been idle: the terminated session is replaced, and the job runs at its first try.
    processes.pool("faults-db-idle", "--num-workers", "1")
    first = fault_handlers.count.enqueue(str(tmp_path))
    wait_for(lambda: Job.objects.get(pk=first.pk).state == Job.State.SUCCEEDED, message="the first job to run")

    with database_unreachable():
        pass  # every session of the pool's process ended
    time.sleep(runner.HEALTH_CHECK_AFTER_IDLE + 0.5)

    second = fault_handlers.count.enqueue(str(tmp_path))
    wait_for(lambda: Job.objects.get(pk=second.pk).state == Job.State.SUCCEEDED, message="the second job to run")
    assert list(second.history.values_list("outcome", flat=True)) == [JobAttempt.Outcome.SUCCEEDED]
    assert "OperationalError" not in processes.log("faults-db-idle")


def test_the_api_answers_503_in_json_while_the_database_is_unreachable(operator):
    import psycopg
    from django.test import Client

    from jobs_app.api.tokens import issue_token

    token = issue_token(operator, name="outage")[1]
    api = Client(headers={"Authorization": f"Bearer {token}"})
    settings = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_pid = cursor.fetchone()[0]
    with database_unreachable():
        params = {"host": settings["HOST"], "port": settings["PORT"], "user": settings["USER"]}
        with psycopg.connect(
            dbname="postgres", password=settings["PASSWORD"] or None, autocommit=True, **params
        ) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [own_pid])  # this test's session too, now
        for path in ("/api/jobs/failed", "/api/jobs/failure-groups"):
            response = api.get(path)
            assert (response.status_code, response["Content-Type"]) == (503, "application/json")
            assert response.json() == {"error": "The database is unavailable; try again later"}
    connection.close()  # the broken session; the next query opens a new one
    assert api.get("/api/jobs/failed").status_code == 200
