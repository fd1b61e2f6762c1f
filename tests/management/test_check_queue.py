"""`manage.py check_queue` with Redis down (issue 15, defect 7): the finding, not a traceback; exit 1."""

from __future__ import annotations

import json
import subprocess
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from tests.factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)

UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down():
    config = {name: {**value, "URL": UNREACHABLE} for name, value in settings.RQ_QUEUES.items()}
    with override_settings(RQ_QUEUES=config):
        yield


@pytest.mark.parametrize("as_json", [False, True])
def test_redis_down_is_the_finding_and_a_usage_exit_not_a_traceback(redis_down, as_json):
    JobFactory(queue="email", handler="test.echo")
    out = StringIO()
    with pytest.raises(CommandError, match="^Redis unreachable") as raised:
        call_command("check_queue", *(["--json"] if as_json else []), stdout=out)
    assert raised.value.returncode == 1
    if as_json:
        report = json.loads(out.getvalue())
        assert report["redis_reachable"] is False
        assert report["problems"][0].startswith("Redis unreachable")
        assert report["queues"]["email"]["waiting"] == 1  # still counted from the database
        assert report["queues"]["email"]["workers"] is None  # unknown, not zero
    else:
        assert "Redis unreachable" in out.getvalue()
        assert out.getvalue().splitlines()[0].split()[0] == "queue"


def test_reachable_redis_says_so_in_json(redis):
    report = json.loads(_run_json())
    assert (report["redis_reachable"], report["problems"]) == (True, [])


def _run_json() -> str:
    out = StringIO()
    call_command("check_queue", "--json", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("as_json", [[], ["--json"]])
def test_from_the_command_line_redis_down_exits_1_without_a_traceback(subprocess_env, manage_py, as_json):
    env = {**subprocess_env, "REDIS_URL": UNREACHABLE}
    probe = subprocess.run([*manage_py, "check_queue", *as_json], env=env, capture_output=True, text=True)
    assert probe.returncode == 1
    assert "Traceback" not in probe.stderr
    assert "Redis unreachable" in probe.stderr
    assert probe.stdout.strip()
