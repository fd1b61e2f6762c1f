"""AutoRetry and the sweeper's decision: pure, no database."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs_app import AutoRetry
from jobs_app.policy import Sweep, sweep_action

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_defaults_and_keyword_only():
    policy = AutoRetry()
    assert (policy.delay, policy.max_retries, dict(policy.delay_for)) == (300.0, 3, {})
    with pytest.raises(TypeError):
        AutoRetry(60, 2)


def test_it_is_frozen_and_its_delay_for_cannot_be_changed():
    policy = AutoRetry(delay_for={"RateLimitError": 900})
    with pytest.raises(AttributeError):
        policy.delay = 1
    with pytest.raises(TypeError):
        policy.delay_for["Other"] = 1


@pytest.mark.parametrize(
    "kwargs",
    [{"delay": -1}, {"max_retries": -1}, {"max_retries": 1.5}, {"max_retries": True}, {"delay_for": {"X": -5}}],
)
def test_bad_values_are_refused(kwargs):
    with pytest.raises((TypeError, ValueError)):
        AutoRetry(**kwargs)


def test_delay_depends_on_the_error_type():
    policy = AutoRetry(delay=300, delay_for={"RateLimitError": timedelta(minutes=15)})
    assert policy.delay_after("RateLimitError") == 900
    assert policy.delay_after("RuntimeError") == 300


def test_due_failed_job_is_retried_and_a_recent_one_waits():
    policy = AutoRetry(delay=300, max_retries=3)
    old, recent = NOW - timedelta(seconds=300), NOW - timedelta(seconds=299)
    assert sweep_action(policy, auto_retries=0, failed_at=old, error_type="E", now=NOW) == Sweep.RETRY
    assert sweep_action(policy, auto_retries=0, failed_at=recent, error_type="E", now=NOW) == Sweep.WAIT


def test_used_up_or_off_means_dead_even_before_the_delay():
    assert sweep_action(AutoRetry(max_retries=2), auto_retries=2, failed_at=NOW, error_type="", now=NOW) == Sweep.DEAD
    assert sweep_action(None, auto_retries=0, failed_at=NOW, error_type="", now=NOW) == Sweep.DEAD


@given(
    delay=st.floats(min_value=0, max_value=1e6),
    max_retries=st.integers(min_value=0, max_value=10),
    auto_retries=st.integers(min_value=0, max_value=20),
    age=st.floats(min_value=0, max_value=2e6),
)
def test_a_job_is_never_retried_beyond_max_or_before_its_delay(delay, max_retries, auto_retries, age):
    policy = AutoRetry(delay=delay, max_retries=max_retries)
    action = sweep_action(
        policy, auto_retries=auto_retries, failed_at=NOW - timedelta(seconds=age), error_type="E", now=NOW
    )
    if action == Sweep.RETRY:
        assert auto_retries < max_retries and timedelta(seconds=age) >= timedelta(seconds=delay)
    if auto_retries >= max_retries:
        assert action == Sweep.DEAD
