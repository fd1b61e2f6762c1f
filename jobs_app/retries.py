"""Retry policies for `django.tasks` functions: `@retry_policy(...)` under `@task`, and their resolution.

A task's policy resolves field by field: its own `@retry_policy`, then the backend's `OPTIONS["tasks"][path]`,
then the backend's `OPTIONS`, then jobs_app's defaults (3 attempts, exponential backoff from 1 s, the
queue's timeout, no `give_up_on`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured

from .policy import Backoff, Seconds
from .registry import Handler

F = TypeVar("F", bound=Callable[..., Any])

# Where `@retry_policy` leaves its policy on the function, for the backend to find when `@task` wraps it.
ATTRIBUTE = "jobs_app_retry_policy"


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Attempts, backoff, exceptions that give up at once, and time limit; None: not said here."""

    attempts: int | None = None
    backoff: Backoff | None = None
    give_up_on: tuple[type[BaseException], ...] | None = None
    timeout: float | None = None

    @classmethod
    def checked(cls, label: str, **values: Any) -> RetryPolicy:
        """A policy from user input, checked as `@job_handler` checks the same options (`TypeError`/`ValueError`)."""
        given = {name: value for name, value in values.items() if value is not None}
        # The handler's own checks, so that a task and a handler refuse the same values with the same words.
        handler = Handler(_never_called, name=label, **given)
        return cls(**{name: getattr(handler, name) for name in given})

    @classmethod
    def from_options(cls, label: str, options: Mapping[str, Any]) -> RetryPolicy:
        """A policy from a backend's OPTIONS; a setup mistake raises `ImproperlyConfigured`."""
        if not isinstance(options, Mapping):
            raise ImproperlyConfigured(f"{label} must be a dict of retry options, got {options!r}")
        unknown = sorted(set(options) - POLICY_OPTIONS)
        if unknown:
            raise ImproperlyConfigured(
                f"{label} has unknown option(s) {', '.join(map(str, unknown))}; "
                f"it accepts {', '.join(sorted(POLICY_OPTIONS))}"
            )
        try:
            return cls.checked(label, **options)
        except (TypeError, ValueError) as error:
            raise ImproperlyConfigured(str(error)) from None

    def given(self) -> dict[str, Any]:
        """The options this policy says, as keyword arguments of `Handler`."""
        return {
            field.name: getattr(self, field.name) for field in fields(self) if getattr(self, field.name) is not None
        }

    def over(self, *fallbacks: RetryPolicy) -> RetryPolicy:
        """This policy, with the fields it leaves unsaid taken from `fallbacks`, first one first."""
        values = self.given()
        for fallback in fallbacks:
            values = {**fallback.given(), **values}
        return RetryPolicy(**values)


POLICY_OPTIONS = frozenset(field.name for field in fields(RetryPolicy))


def _never_called(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("only checks options")


def retry_policy(
    *,
    attempts: int | None = None,
    backoff: Backoff | None = None,
    give_up_on: Iterable[type[BaseException]] | None = None,
    timeout: Seconds | None = None,
) -> Callable[[F], F]:
    """Give a `django.tasks` function jobs_app's retries; place it under `@task`.

        @task(queue_name="email")
        @retry_policy(attempts=5, backoff=Backoff.exponential(2), give_up_on=(ValueError,), timeout=30)
        def send_welcome(user_id): ...

    Options left out come from the backend's OPTIONS, then jobs_app's defaults.
    """
    policy = RetryPolicy.checked(
        "@retry_policy", attempts=attempts, backoff=backoff, give_up_on=give_up_on, timeout=timeout
    )

    def decorator(func: F) -> F:
        if not inspect.isfunction(func):
            raise TypeError(
                f"@retry_policy decorates a function and goes under @task, not over it (got {type(func).__name__}); "
                "a @job_handler takes the same options itself"
            )
        if hasattr(func, ATTRIBUTE):
            raise TypeError(f"{func.__qualname__} has two @retry_policy decorators; merge them into one")
        setattr(func, ATTRIBUTE, policy)
        return func

    return decorator


def policy_of(func: Callable[..., Any]) -> RetryPolicy:
    """The policy `@retry_policy` gave `func`; an empty one if none."""
    return getattr(func, ATTRIBUTE, None) or RetryPolicy()
