"""Fixtures: a real redis-server for the session, a clean Redis per test, in-process workers."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from urllib.parse import quote

import django
import django_rq
import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.utils import timezone
from rq.registry import ScheduledJobRegistry

from jobs_app import pauses, transport
from jobs_app.models import Job
from jobs_app.signals import job_dead
from jobs_app.testing import RedisServer
from jobs_app.worker import SimpleWorker
from tests.testapp import handlers as test_handlers

# `ADMINS` for the tests of mail to the admins: (name, address) pairs until Django 6.0, which deprecates them
# for plain addresses.
OPS_ADMINS = ["ops@example.com"] if django.VERSION >= (6, 0) else [("Ops", "ops@example.com")]


@pytest.fixture(scope="session", autouse=True)
def redis_url():
    """REDIS_URL when it is set, otherwise a throwaway redis-server for the whole session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with RedisServer() as server:
        os.environ["REDIS_URL"] = server.url
        settings.REDIS_URL = server.url
        for config in settings.RQ_QUEUES.values():
            config["URL"] = server.url
        transport.reset()
        yield server.url
        del os.environ["REDIS_URL"]


@pytest.fixture
def redis(redis_url):
    return transport.connection("default")


@pytest.fixture(autouse=True)
def _clean_slate(redis_url):
    """Every test starts with an empty Redis and no recorded hook calls."""
    transport.connection("default").flushdb()
    pauses.forget_flags()  # this process's look at the pause flags was of the Redis just emptied
    test_handlers.hook_calls.clear()
    yield


@pytest.fixture
def run_worker():
    """Run an in-process SimpleWorker until the queues are empty (burst)."""

    def run(*queues: str, with_scheduler: bool = False) -> SimpleWorker:
        names = queues or tuple(settings.RQ_QUEUES)
        worker = django_rq.get_worker(*names, worker_class=SimpleWorker)
        worker.work(burst=True, with_scheduler=with_scheduler)
        return worker

    return run


def database_url() -> str:
    """A DATABASE_URL that points a subprocess at this test run's database."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"])
    host = f"{credentials}@" if credentials else ""
    return f"postgres://{host}{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def subprocess_env(redis_url):
    """Environment for `manage.py` subprocesses: the test settings, database and Redis."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "PYTHONPATH": str(settings.BASE_DIR),
    }


@pytest.fixture
def manage_py():
    return [sys.executable, str(settings.BASE_DIR / "manage.py")]


@pytest.fixture
def make_due(redis):
    """Move a scheduled job's time into the past, in its row and in RQ's schedule: time travel, no sleeping."""

    def make_due(job: Job) -> None:
        past = timezone.now() - timedelta(seconds=1)
        Job.objects.filter(pk=job.pk).update(scheduled_for=past)
        for name in transport.rq_queue_names(job.queue):
            # xx: only where RQ has it scheduled.
            redis.zadd(ScheduledJobRegistry(name, connection=redis).key, {str(job.pk): past.timestamp()}, xx=True)

    return make_due


@pytest.fixture
def dead_signals():
    """The jobs `job_dead` was sent for, in order."""
    received = []

    def receiver(sender, job, **kwargs):
        received.append(job)

    job_dead.connect(receiver)
    yield received
    job_dead.disconnect(receiver)


@pytest.fixture
def ago():
    """`ago(seconds=...)`: a time in the past, for failed_at / started_at / scheduled_for."""
    return lambda **delta: timezone.now() - timedelta(**delta)


# Users: one set for the admin, the API and the commands.


def staff_with(username: str, *codenames: str) -> User:
    """A staff user holding these jobs_app permissions (codenames such as "view_job", "retry_job")."""
    user = User.objects.create_user(username=username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="jobs_app", codename__in=codenames))
    return user


@pytest.fixture
def operator(db) -> User:
    """May see jobs, retry and cancel them: what an on-call engineer gets."""
    return staff_with("ops", "view_job", "view_failedjob", "view_jobattempt", "retry_job", "cancel_job")


@pytest.fixture
def viewer(db) -> User:
    """Staff who may look at jobs but neither retry nor cancel them."""
    return staff_with("viewer", "view_job", "view_failedjob", "view_jobattempt")


@pytest.fixture
def outsider(db) -> User:
    """An active user who is not staff."""
    return User.objects.create_user("outsider", password="pw")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client
