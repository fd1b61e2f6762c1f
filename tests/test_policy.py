"""Backoff and the retry decision: pure functions, tested directly and with properties."""

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs_app import Backoff, PermanentError, TransientError
from jobs_app.policy import Verdict, decide, to_seconds


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
