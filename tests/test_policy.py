"""policy.py: backoff, the retry decision, and the sweeper's auto-retry: pure functions, tested directly
and with properties."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs_app import AutoRetry, Backoff, PermanentError, TransientError
from jobs_app.policy import Sweep, Verdict, auto_retry_for, decide, sweep_action, to_seconds


def test_exponential_backoff_doubles_from_the_delay():
    backoff = Backoff.exponential(delay=2)
    assert [backoff.seconds_after(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]


def test_exponential_backoff_is_capped_by_max_delay():
    backoff = Backoff.exponential(delay=2, max_delay=600)
    assert backoff.seconds_after(20) == 600
    assert backoff.seconds_after(10_000) == 600


def test_fixed_backoff_waits_the_same_each_time():
    assert {Backoff.fixed(5).seconds_after(n) for n in range(1, 10)} == {5}


def test_delays_accept_timedeltas():
    backoff = Backoff.exponential(delay=timedelta(seconds=3), max_delay=timedelta(minutes=1))
    assert backoff.delay == 3 and backoff.max_delay == 60


@pytest.mark.parametrize("bad", ["5", None, True, [1]])
def test_a_delay_that_is_not_a_number_is_a_type_error(bad):
    with pytest.raises(TypeError, match="delay must be a number of seconds or a timedelta"):
        Backoff.fixed(bad)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), timedelta(seconds=-1)])
def test_a_negative_or_infinite_delay_is_a_value_error(bad):
    with pytest.raises(ValueError, match="finite, non-negative"):
        to_seconds(bad, name="delay")


def test_backoff_survives_a_round_trip_through_the_row():
    backoff = Backoff.exponential(delay=2, max_delay=600, jitter=True)
    assert Backoff.from_dict(backoff.to_dict()) == backoff


@given(
    delay=st.floats(min_value=0, max_value=1e6),
    max_delay=st.one_of(st.none(), st.floats(min_value=0, max_value=1e7)),
    attempt=st.integers(min_value=1, max_value=10_000),
    seed=st.integers(),
)
def test_jittered_waits_stay_between_half_and_all_of_the_capped_wait(delay, max_delay, attempt, seed):
    plain = Backoff.exponential(delay=delay, max_delay=max_delay).seconds_after(attempt)
    jittered = Backoff.exponential(delay=delay, max_delay=max_delay, jitter=True).seconds_after(
        attempt, random.Random(seed)
    )
    assert plain / 2 <= jittered <= plain
    if max_delay is not None:
        assert plain <= max_delay


@given(delay=st.floats(min_value=0, max_value=1e3), attempt=st.integers(min_value=1, max_value=200))
def test_exponential_waits_never_shrink(delay, attempt):
    backoff = Backoff.exponential(delay=delay)
    assert backoff.seconds_after(attempt + 1) >= backoff.seconds_after(attempt)


@given(attempt=st.integers(min_value=1, max_value=50), max_attempts=st.integers(min_value=1, max_value=50))
def test_plain_errors_retry_while_attempts_remain_then_fail(attempt, max_attempts):
    decision = decide(attempt=attempt, max_attempts=max_attempts, backoff=Backoff.fixed(7), error=RuntimeError())
    if attempt < max_attempts:
        assert decision.verdict == Verdict.RETRY and decision.delay == 7
    else:
        assert decision.verdict == Verdict.FAIL


def test_permanent_error_gives_up_at_once():
    decision = decide(attempt=1, max_attempts=5, backoff=Backoff.fixed(1), error=PermanentError("no"))
    assert decision.verdict == Verdict.GIVE_UP


def test_give_up_on_classes_give_up_at_once_subclasses_included():
    decision = decide(
        attempt=1, max_attempts=5, backoff=Backoff.fixed(1), error=KeyError("x"), give_up_on=(LookupError,)
    )
    assert decision.verdict == Verdict.GIVE_UP


def test_transient_error_retries_even_when_give_up_on_matches():
    decision = decide(
        attempt=1, max_attempts=5, backoff=Backoff.fixed(1), error=TransientError("later"), give_up_on=(Exception,)
    )
    assert decision.verdict == Verdict.RETRY


# AutoRetry and the sweeper's decision.

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


def test_auto_retry_for_takes_the_command_line_then_the_handler_then_the_settings():
    defaults = AutoRetry(delay=300, max_retries=3)
    handlers_own = AutoRetry(delay=60, max_retries=5, delay_for={"RateLimitError": 900})
    assert auto_retry_for(None, defaults=defaults) == defaults
    assert auto_retry_for(True, defaults=defaults) == defaults
    assert auto_retry_for(False, defaults=defaults, delay=1) is None
    assert auto_retry_for(handlers_own, defaults=defaults) is handlers_own
    assert auto_retry_for(handlers_own, defaults=defaults, max_retries=1) == AutoRetry(
        delay=60, max_retries=1, delay_for={"RateLimitError": 900}
    )
    assert auto_retry_for(handlers_own, defaults=defaults, delay=5) == AutoRetry(delay=5, max_retries=5)
