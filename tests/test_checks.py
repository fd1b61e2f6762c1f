"""System checks for the operations settings: METRICS_PUBLIC, METRICS_CACHE_SECONDS, PAUSE_RECHECK."""

from datetime import timedelta

import pytest
from django.test import override_settings

from jobs_app.checks import check_operations_settings


@pytest.mark.parametrize(
    ("setting", "value", "error_id", "message"),
    [
        ("METRICS_PUBLIC", "yes", "jobs_app.E301", "must be True or False"),
        ("METRICS_CACHE_SECONDS", -1, "jobs_app.E302", "non-negative"),
        ("METRICS_CACHE_SECONDS", "15", "jobs_app.E302", "number of seconds"),
        ("PAUSE_RECHECK", 0, "jobs_app.E303", "at least 1 s"),
    ],
)
def test_bad_operations_settings_are_system_check_errors(setting, value, error_id, message):
    with override_settings(JOBS_APP={setting: value}):
        [error] = check_operations_settings()
    assert (error.id, message in error.msg) == (error_id, True)


def test_good_operations_settings_pass():
    settings = {"METRICS_PUBLIC": True, "METRICS_CACHE_SECONDS": 0, "PAUSE_RECHECK": timedelta(seconds=2)}
    with override_settings(JOBS_APP=settings):
        assert check_operations_settings() == []
