"""The breaker's states in Redis, under controlled time: opens, defers, half-opens, closes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from jobs_app.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, names, settings_for

T0 = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("redis")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_defaults_and_settings_per_breaker():
    assert settings_for("nobody-configured-me").failure_threshold == 5
    assert (settings_for("nobody-configured-me").recovery_timeout, settings_for("x").success_threshold) == (60, 3)
    with override_settings(JOBS_APP={"BREAKERS": {"sms": {"recovery_timeout": 5}}}):
        assert (settings_for("sms").recovery_timeout, settings_for("sms").failure_threshold) == (5, 5)
        assert "sms" in names()
    assert "test-whatsapp" in names()  # named by a handler


def test_consecutive_failures_open_it_and_a_success_resets_the_count():
    breaker = Breaker("payments")
    for second in range(4):
        breaker.record_failure(now=at(second))
    breaker.record_success(now=at(4))
    for second in range(5, 9):
        breaker.record_failure(now=at(second))
    assert breaker.state().state == CLOSED

    breaker.record_failure(now=at(9))

    state = breaker.state()
    assert (state.state, state.failures, state.opened_at) == (OPEN, 5, at(9))
    assert state.retry_at == at(69)


def test_while_open_jobs_are_deferred_to_the_end_of_the_recovery_window():
    breaker = Breaker("payments")
    breaker.open(now=at(0))

    decision = breaker.acquire(now=at(30))

    assert (decision.allowed, decision.retry_at) == (False, at(60))
    assert breaker.state().deferred == 1


def test_half_open_lets_a_few_through_then_enough_successes_close_it():
    breaker = Breaker("payments")
    breaker.open(now=at(0))

    trials = [breaker.acquire(now=at(60 + i)) for i in range(4)]

    assert [decision.allowed for decision in trials] == [True, True, True, False]
    assert trials[3].retry_at == at(120)
    assert breaker.state().state == HALF_OPEN
    for i in range(3):
        breaker.record_success(now=at(65 + i))
    assert breaker.state().state == CLOSED
    assert breaker.acquire(now=at(70)).allowed


def test_a_failure_while_half_open_opens_it_again():
    breaker = Breaker("payments")
    breaker.open(now=at(0))
    assert breaker.acquire(now=at(61)).allowed

    breaker.record_failure(now=at(62))

    assert breaker.state().state == OPEN
    assert breaker.acquire(now=at(63)).retry_at == at(122)


def test_a_half_open_trial_that_never_reports_back_does_not_wedge_it():
    breaker = Breaker("payments")
    breaker.open(now=at(0))
    for i in range(3):
        assert breaker.acquire(now=at(60 + i)).allowed  # their workers die: no result ever
    assert not breaker.acquire(now=at(100)).allowed

    assert breaker.acquire(now=at(121)).allowed  # a new recovery window, new trials


def test_transitions_are_logged(caplog):
    breaker = Breaker("payments")
    with caplog.at_level("WARNING", logger="jobs_app"):
        for second in range(5):
            breaker.record_failure(now=at(second))
        breaker.acquire(now=at(64))  # opened at 4 s, 60 s recovery
        breaker.close(now=at(65), by="alice")

    assert [record.getMessage() for record in caplog.records] == [
        "Breaker payments: closed -> open (failures)",
        "Breaker payments: open -> half_open (recovery timeout passed)",
        "Breaker payments: half_open -> closed (closed by hand by alice)",
    ]
