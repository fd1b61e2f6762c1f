"""The foundation: a real throwaway Redis, SQLite that stands several writers, system checks."""

import subprocess

import pytest
from django.db import connection
from redis import Redis

from jobs_app.models import Job
from jobs_app.testing import RedisServer, is_listening, redis_server_executable
from tests.testapp import handlers

on_sqlite = connection.vendor == "sqlite"


def test_redis_server_helper_starts_a_real_server_and_stops_it():
    assert redis_server_executable()
    with RedisServer() as server:
        client = Redis.from_url(server.url)
        assert client.ping()
        assert client.info("server")["redis_version"]
        client.close()
    assert not is_listening("127.0.0.1", server.port)


@pytest.mark.skipif(not on_sqlite, reason="SQLite's journal and lock settings; PostgreSQL has neither")
@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_immediate_transactions_and_a_busy_timeout():
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


@pytest.mark.subprocess
@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_write_at_once_without_database_is_locked(manage_py, subprocess_env):
    jobs = [handlers.add.enqueue(n, n) for n in range(150)] + [handlers.always_fails.enqueue() for _ in range(20)]
    workers = [
        subprocess.Popen(
            [*manage_py, "rqworker", "default", "--burst"],
            env=subprocess_env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    errors = [worker.communicate(timeout=300)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0]
    assert not any("database is locked" in output for output in errors)
    assert Job.objects.filter(state=Job.State.SUCCEEDED).count() == 150
    assert Job.objects.filter(state=Job.State.FAILED, attempts=3).count() == 20
    assert len(jobs) == Job.objects.count()
