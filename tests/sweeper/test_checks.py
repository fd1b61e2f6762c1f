"""System checks for the sweeper's settings."""

import pytest
from django.test import override_settings

from jobs_app.checks import check_sweeper_settings


def test_the_default_settings_pass():
    assert check_sweeper_settings() == []


@pytest.mark.parametrize(
    ("setting", "value", "check_id"),
    [
        ("AUTO_RETRY", {"delay": -1}, "jobs_app.E101"),
        ("AUTO_RETRY", {"delai": 5}, "jobs_app.E101"),
        ("REPAIR_GRACE", "soon", "jobs_app.E102"),
        ("ALERT_DEAD_THRESHOLD", 2.5, "jobs_app.E103"),
        ("RETENTION", {"failed": 5}, "jobs_app.E104"),
        ("RETENTION", {"dead": -5}, "jobs_app.E104"),
    ],
)
def test_bad_settings_are_reported_with_a_hint(setting, value, check_id):
    with override_settings(JOBS_APP={setting: value}):
        messages = check_sweeper_settings()
    assert [message.id for message in messages] == [check_id]
    assert messages[0].hint
