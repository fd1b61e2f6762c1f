"""checks.py: settings that would make jobs run unsafely, or not at all, are system-check errors with hints."""

from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from jobs_app.checks import (
    check_breaker_settings,
    check_database_settings,
    check_operations_settings,
    check_setting_names,
    check_sweeper_settings,
)

# RQ and the handlers' queues.


@pytest.mark.django_db  # Django 6.1's JSONField check asks the database what it supports
def test_checks_warn_when_rqworker_would_not_use_jobs_apps_worker():
    with override_settings(RQ={}):
        assert "jobs_app.W001" in {message.id for message in run_checks()}


@pytest.mark.django_db
def test_checks_flag_a_handler_whose_queue_is_not_configured(settings):
    queues = {name: config for name, config in settings.RQ_QUEUES.items() if name != "email"}
    with override_settings(RQ_QUEUES=queues):
        errors = [message for message in run_checks() if message.id == "jobs_app.E002"]
    assert any("'test.echo' uses queue 'email'" in error.msg for error in errors)


# JOBS_APP's names.


def test_a_misspelt_setting_is_an_error_that_names_the_right_one():
    with override_settings(JOBS_APP={"REPAIR_GRACES": 30, "ALERT_DEAD_THRESHOLD": 5}):
        [error] = check_setting_names()
    assert (error.id, error.msg) == ("jobs_app.E004", "JOBS_APP has an unknown setting 'REPAIR_GRACES'.")
    assert error.hint == "Did you mean 'REPAIR_GRACE'?"


def test_known_setting_names_pass():
    with override_settings(JOBS_APP={"REPAIR_GRACE": 30}):
        assert check_setting_names() == []


# The sweeper's settings.


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


# The circuit breakers.


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


# Operations: METRICS_PUBLIC, METRICS_CACHE_SECONDS, PAUSE_RECHECK.


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


# Database: PREPARED_STATEMENTS.


def test_prepared_statements_must_be_a_boolean():
    with override_settings(JOBS_APP={"PREPARED_STATEMENTS": "off"}):
        [error] = check_database_settings()
    assert (error.id, "must be True or False" in error.msg) == ("jobs_app.E401", True)


@pytest.mark.parametrize("value", [True, False])
def test_prepared_statements_on_or_off_pass(value):
    with override_settings(JOBS_APP={"PREPARED_STATEMENTS": value}):
        assert check_database_settings() == []
