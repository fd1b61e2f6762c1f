"""System checks for JOBS_APP["BREAKERS"]."""

import pytest
from django.test import override_settings

from jobs_app.checks import check_breaker_settings


@pytest.mark.parametrize(
    ("breakers", "message"),
    [
        ([], "must be a dict of breaker names"),
        ({"sms": {"failure_treshold": 3}}, "unknown key(s) failure_treshold"),
        ({"sms": {"success_threshold": 0}}, "success_threshold must be a whole number of at least 1"),
        ({"sms": {"recovery_timeout": 0}}, "recovery_timeout must be more than 0 seconds"),
        ({"sms": {"recovery_timeout": "1m"}}, "recovery_timeout must be a number of seconds"),
    ],
)
def test_bad_breaker_settings_are_system_check_errors(breakers, message):
    with override_settings(JOBS_APP={"BREAKERS": breakers}):
        [error] = check_breaker_settings()
    assert message in error.msg


def test_good_breaker_settings_pass():
    with override_settings(JOBS_APP={"BREAKERS": {"sms": {"failure_threshold": 3, "recovery_timeout": 30.5}}}):
        assert check_breaker_settings() == []
