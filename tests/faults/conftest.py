"""Fixtures of the faults suite: a Redis of its own per test (stopped, restarted, flushed at will),
real worker and sweeper subprocesses that are always killed at the end, and the consistency check."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import pytest
from django.test import override_settings

from jobs_app import transport
from jobs_app.testing import RedisServer
from tests.faults.processes import Processes


class ControlledRedis:
    """A throwaway redis-server on one fixed loopback port that a test may stop and start again.

    A restart is a Redis that lost everything (no persistence), unless the test stops it with
    `keep_data=True`: then it comes back with what it held (an outage, not a loss).
    """

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="jobs-fault-redis-")
        self.server = RedisServer(data_dir=self._dir.name).start()
        self.port = self.server.port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.server is not None

    def stop(self, *, keep_data: bool = False) -> None:
        if self.server is not None:
            self.server.stop()  # saves on the way out
            self.server = None
        if not keep_data:
            Path(self._dir.name, "dump.rdb").unlink(missing_ok=True)
        transport.reset()  # drop pooled sockets to the old server

    def start(self) -> None:
        if self.server is None:
            self.server = RedisServer(port=self.port, data_dir=self._dir.name).start()
        transport.reset()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def fault_redis():
    """A Redis for this test only: settings, jobs_app and django-rq point at it until the test ends."""
    redis = ControlledRedis()
    queues = copy.deepcopy(_current_queues())
    for config in queues.values():
        config["URL"] = redis.url
    try:
        with override_settings(REDIS_URL=redis.url, RQ_QUEUES=queues):  # resets transport's cache
            yield redis
    finally:
        redis.close()


def _current_queues() -> dict:
    from django.conf import settings

    return settings.RQ_QUEUES


@pytest.fixture
def fault_env(subprocess_env, fault_redis):
    """Environment for subprocesses: this test's Redis, the database, a short repair grace period."""
    return {
        **subprocess_env,
        "REDIS_URL": fault_redis.url,
        "DJANGO_SETTINGS_MODULE": "tests.faults.settings",
        "FAULTS_REPAIR_GRACE": "1",
        "JOBS_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def processes(tmp_path, fault_env, manage_py):
    """Start subprocesses through this; every one still running at the end is SIGKILLed (horses too)."""
    group = Processes(tmp_path, fault_env, manage_py)
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture
def rq_redis(fault_redis):
    """A client of this test's Redis (reconnects on its own after a restart)."""
    return transport.connection("default")
