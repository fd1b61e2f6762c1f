"""Backoff and the retry-or-give-up decision: pure functions, no database, no Redis."""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from .exceptions import PermanentError, TransientError

Seconds = int | float | timedelta

# 2**64 seconds is far past any cap; larger exponents would overflow a float.
_MAX_EXPONENT = 64
# The longest wait, time limit or age jobs_app accepts (100 years): "now" plus any of them
# stays inside datetime's range and a C unsigned int (signal.alarm).
MAX_SECONDS = 100 * 365 * 24 * 3600


def to_seconds(value: Seconds, *, name: str) -> float:
    """Seconds as a float from a number or a timedelta; a clear error for anything else."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            raise ValueError(
                f"{name} must be at most {MAX_SECONDS} seconds (100 years), got a {int(value).bit_length()}-bit integer"
            ) from None
    else:
        raise TypeError(f"{name} must be a number of seconds or a timedelta, not {type(value).__name__}")
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a finite, non-negative number of seconds, got {value!r}")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{name} must be at most {MAX_SECONDS} seconds (100 years), got {value!r}")
    return seconds


class BackoffKind(enum.StrEnum):
    EXPONENTIAL = "exponential"
    FIXED = "fixed"


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """How long to wait before the next attempt. Build it with `exponential()` or `fixed()`."""

    kind: BackoffKind
    delay: float
    max_delay: float | None = None
    jitter: bool = False

    @classmethod
    def exponential(cls, delay: Seconds = 1, max_delay: Seconds | None = None, jitter: bool = False) -> Backoff:
        """Wait delay·2^(n-1) seconds after attempt n, capped at `max_delay`.

        With `jitter`, each wait is drawn between half and all of that, so that
        jobs that failed together do not come back together.
        """
        return cls(
            kind=BackoffKind.EXPONENTIAL,
            delay=to_seconds(delay, name="delay"),
            max_delay=None if max_delay is None else to_seconds(max_delay, name="max_delay"),
            jitter=bool(jitter),
        )

    @classmethod
    def fixed(cls, delay: Seconds) -> Backoff:
        """Wait the same `delay` after every attempt."""
        return cls(kind=BackoffKind.FIXED, delay=to_seconds(delay, name="delay"))

    def seconds_after(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt `attempt` (1-based) failed, before the next one."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        wait = self.delay
        if self.kind == BackoffKind.EXPONENTIAL:
            wait = self.delay * 2.0 ** min(attempt - 1, _MAX_EXPONENT)
        if self.max_delay is not None:
            wait = min(wait, self.max_delay)
        if self.jitter:
            wait *= (rng or random).uniform(0.5, 1.0)
        return min(wait, MAX_SECONDS)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "delay": self.delay, "max_delay": self.max_delay, "jitter": self.jitter}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Backoff:
        return cls(
            kind=BackoffKind(data["kind"]),
            delay=float(data["delay"]),
            max_delay=None if data.get("max_delay") is None else float(data["max_delay"]),
            jitter=bool(data.get("jitter", False)),
        )


class Verdict(enum.StrEnum):
    RETRY = "retry"  # another attempt after `delay` seconds
    FAIL = "fail"  # attempts used up: `failed`, which the sweeper may re-run later
    DEAD = "dead"  # retrying cannot help: `dead`, the dead letter (the sweeper's `Sweep.DEAD` too)
    GIVE_UP = "dead"  # the same verdict under its older name


@dataclass(frozen=True, kw_only=True)
class RetryDecision:
    verdict: Verdict
    delay: float = 0.0


def gives_up(error: BaseException, give_up_on: tuple[type[BaseException], ...] = ()) -> bool:
    """Whether retrying cannot help: `PermanentError` and the `give_up_on` classes give up at once;
    `TransientError` never does, whatever `give_up_on` says."""
    return isinstance(error, PermanentError) or (
        bool(give_up_on) and isinstance(error, give_up_on) and not isinstance(error, TransientError)
    )


def decide(
    *,
    attempt: int,
    max_attempts: int,
    backoff: Backoff,
    error: BaseException,
    give_up_on: tuple[type[BaseException], ...] = (),
    rng: random.Random | None = None,
) -> RetryDecision:
    """What follows a failed attempt that ended with `error`: retry after a delay, fail, or give up (`gives_up`)."""
    return decide_after(
        attempt=attempt, max_attempts=max_attempts, backoff=backoff, give_up=gives_up(error, give_up_on), rng=rng
    )


def decide_after(
    *, attempt: int, max_attempts: int, backoff: Backoff, give_up: bool, rng: random.Random | None = None
) -> RetryDecision:
    """What follows a failed attempt: give up (`give_up`), retry after a delay while attempts remain, or fail."""
    if give_up:
        return RetryDecision(verdict=Verdict.DEAD)
    if attempt < max_attempts:
        return RetryDecision(verdict=Verdict.RETRY, delay=backoff.seconds_after(attempt, rng))
    return RetryDecision(verdict=Verdict.FAIL)


@dataclass(frozen=True, kw_only=True)
class AutoRetry:
    """When the sweeper re-runs a `failed` job: `delay` seconds after it failed, at most `max_retries` times.

    `delay_for` maps exception class names (as in `Job.error_type`) to their own delay,
    for example `{"RateLimitError": 900}`.
    """

    delay: float = 300.0
    max_retries: int = 3
    delay_for: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "delay", to_seconds(self.delay, name="delay"))
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries must be a whole number of at least 0, got {self.max_retries!r}")
        if not isinstance(self.delay_for, Mapping):
            raise TypeError(f"delay_for must map exception class names to seconds, got {self.delay_for!r}")
        delays = {}
        for name, seconds in self.delay_for.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"delay_for keys must be exception class names, got {name!r}")
            delays[name] = to_seconds(seconds, name=f"delay_for[{name!r}]")
        object.__setattr__(self, "delay_for", MappingProxyType(delays))

    def delay_after(self, error_type: str) -> float:
        """Seconds to wait after a failure with this exception class name."""
        return self.delay_for.get(error_type, self.delay)


class Sweep(enum.StrEnum):
    RETRY = "retry"  # re-run it now
    WAIT = "wait"  # not yet: its delay has not passed
    DEAD = "dead"  # auto-retries used up, or off: the dead letter


def sweep_action(
    auto_retry: AutoRetry | None, *, auto_retries: int, failed_at: datetime | None, error_type: str, now: datetime
) -> Sweep:
    """What the sweeper does with one `failed` job; `auto_retry=None` means auto-retry is off."""
    if auto_retry is None or auto_retries >= auto_retry.max_retries:
        return Sweep.DEAD
    if failed_at is not None and (now - failed_at).total_seconds() < auto_retry.delay_after(error_type):
        return Sweep.WAIT
    return Sweep.RETRY


def default_auto_retry(configured: Mapping[str, Any]) -> AutoRetry:
    """`JOBS_APP["AUTO_RETRY"]` as an `AutoRetry`; the keys it leaves out take `AutoRetry`'s defaults."""
    return AutoRetry(**configured)


def auto_retry_for(
    handler_policy: AutoRetry | bool | None,
    *,
    defaults: AutoRetry,
    delay: float | None = None,
    max_retries: int | None = None,
) -> AutoRetry | None:
    """The auto-retry policy of one handler's jobs: the command line, then the handler, then the settings.

    `handler_policy` is the handler's `auto_retry=` (None: the settings' `defaults`; False: off);
    `delay` and `max_retries` come from the command line and win. None: auto-retry is off.
    """
    if handler_policy is False:
        return None
    policy = handler_policy if isinstance(handler_policy, AutoRetry) else defaults
    if delay is not None:
        # A delay given on the command line holds for every error type.
        policy = AutoRetry(delay=delay, max_retries=policy.max_retries)
    if max_retries is not None:
        policy = AutoRetry(delay=policy.delay, max_retries=max_retries, delay_for=policy.delay_for)
    return policy
