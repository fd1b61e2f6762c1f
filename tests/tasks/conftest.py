"""The faults suite's `processes` fixture (real `manage.py` subprocesses, all killed at the end), on the
session's Redis and the test settings instead of a Redis of the test's own."""

import pytest

from tests.faults.conftest import processes  # noqa: F401  (a fixture, used by test_worker_process.py)


@pytest.fixture
def fault_env(subprocess_env):
    return subprocess_env
