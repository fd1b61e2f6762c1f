"""`@job_handler`: declare a handler and its options once; look handlers up by name."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules

from .context import InlineContext
from .exceptions import HandlerNotFound
from .payload import storable
from .policy import MAX_SECONDS, AutoRetry, Backoff, to_seconds
from .schedule import Schedule
from .states import Priority

if TYPE_CHECKING:
    from .models import Job

_registry: dict[str, Handler] = {}

MAX_IDEMPOTENCY_KEY_LENGTH = 200
# Field metadata: `using` marks the options `Handler.using()` accepts; `per_enqueue` those that only
# `using()` takes (they describe one enqueue, not the handler).
_USING = {"using": True}
_PER_ENQUEUE = {"using": True, "per_enqueue": True}


class Call(tuple):
    """The arguments of one call, for `Handler.enqueue_many`: `Call(1, 2, key="value")`."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Call:
        return super().__new__(cls, (args, kwargs))

    @classmethod
    def of(cls, call: tuple | Call) -> Call:
        if isinstance(call, Call):
            return call
        if isinstance(call, tuple | list):
            return cls(*call)
        raise TypeError(f"enqueue_many() takes tuples of arguments or Call(...) objects, not {type(call).__name__}")


@dataclass(frozen=True, eq=False, repr=False)
class Handler:
    """A registered job handler: a value, its options checked once when it is built.

    Call it to run the function inline; `.enqueue(...)` records a job and runs it on a
    worker with the handler's options; `.using(...)` returns a copy with some options changed.
    """

    func: Callable[..., Any]
    _: KW_ONLY
    name: str
    queue: str = field(default="default", metadata=_USING)
    priority: str = field(default=Priority.NORMAL, metadata=_USING)
    attempts: int = field(default=3, metadata=_USING)
    # Field types are the values after __post_init__; it also takes what they are made from (None for the
    # default backoff, a timedelta for seconds, any iterable of exception classes).
    backoff: Backoff = field(default=None, metadata=_USING)  # type: ignore[assignment]
    timeout: float | None = field(default=None, metadata=_USING)
    give_up_on: tuple[type[BaseException], ...] = ()
    on_retry: Callable[[Job, BaseException], Any] | None = None
    on_failure: Callable[[Job, BaseException], Any] | None = None
    takes_context: bool = False
    # None: JOBS_APP["AUTO_RETRY"]; False: failed jobs go straight to `dead`.
    auto_retry: AutoRetry | bool | None = None
    # Recurring: a cron expression (UTC, as rq's cron scheduler reads it) or a period in seconds, and
    # the seconds it may go without a success (1.5 periods unless given). See `recurrence`.
    schedule: str | None = None
    every: float | None = None
    max_interval: float | None = None
    breaker: str | None = None
    delay: float | None = field(default=None, metadata=_PER_ENQUEUE)
    at: datetime | None = field(default=None, metadata=_PER_ENQUEUE)
    idempotency_key: str | None = field(default=None, metadata=_PER_ENQUEUE)
    recurrence: Schedule | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        name, func = self.name, self.func
        if not callable(func):
            raise TypeError(f"@job_handler must decorate a function, not {type(func).__name__}")
        if not isinstance(name, str) or not name.strip():
            raise TypeError("a job handler needs a non-empty name, for example @job_handler('email.send')")
        if not isinstance(self.queue, str) or not self.queue:
            raise TypeError(f"{name}: queue must be a queue name from RQ_QUEUES, got {self.queue!r}")
        if self.priority not in Priority.values:
            raise ValueError(f"{name}: priority must be one of {', '.join(Priority.values)}, got {self.priority!r}")
        attempts = self.attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"{name}: attempts must be a whole number of at least 1, got {attempts!r}")
        backoff = Backoff.exponential(delay=1) if self.backoff is None else self.backoff
        if not isinstance(backoff, Backoff):
            raise TypeError(f"{name}: backoff must be Backoff.exponential(...) or Backoff.fixed(...)")
        give_up_on = tuple(self.give_up_on)
        if not all(isinstance(cls, type) and issubclass(cls, BaseException) for cls in give_up_on):
            raise TypeError(f"{name}: give_up_on must be a tuple of exception classes, got {give_up_on!r}")
        for hook_name in ("on_retry", "on_failure"):
            hook = getattr(self, hook_name)
            if hook is not None and not callable(hook):
                raise TypeError(f"{name}: {hook_name} must be callable(job, exc), got {hook!r}")
        if self.delay is not None and self.at is not None:
            raise TypeError(f"{name}: give delay= or at=, not both")
        if self.at is not None and (not isinstance(self.at, datetime) or self.at.tzinfo is None):
            raise ValueError(f"{name}: at= must be a timezone-aware datetime, got {self.at!r}")
        if self.at is not None and self.at - datetime.now(UTC) > timedelta(seconds=MAX_SECONDS):
            # Converting such a time to UTC, or waiting for it, would leave datetime's range.
            raise ValueError(f"{name}: at= must be within 100 years from now, got {self.at!r}")
        key = self.idempotency_key
        if key is not None and (
            not isinstance(key, str) or not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH or not storable(key)
        ):
            raise ValueError(
                f"{name}: idempotency_key must be a string of 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters "
                "without lone surrogates or NUL"
            )
        auto_retry = None if self.auto_retry is True else self.auto_retry
        if auto_retry is not None and auto_retry is not False and not isinstance(auto_retry, AutoRetry):
            raise TypeError(f"{name}: auto_retry must be AutoRetry(...), False (off) or None (the settings' default)")
        recurrence = Schedule.declared(name, schedule=self.schedule, every=self.every, max_interval=self.max_interval)
        breaker = self.breaker
        if breaker is not None and (not isinstance(breaker, str) or not breaker.strip() or ":" in breaker):
            raise ValueError(f"{name}: breaker must be a name such as 'whatsapp' (no colons), got {breaker!r}")
        timeout = None if self.timeout is None else to_seconds(self.timeout, name=f"{name}: timeout")
        if timeout == 0:
            raise ValueError(f"{name}: timeout must be more than 0 seconds")

        normalised = {
            "priority": Priority(self.priority),
            "backoff": backoff,
            "timeout": timeout,
            "give_up_on": give_up_on,
            "takes_context": bool(self.takes_context),
            "delay": None if self.delay is None else to_seconds(self.delay, name=f"{name}: delay"),
            "auto_retry": auto_retry,
            "every": recurrence.every if recurrence else None,
            "max_interval": recurrence.max_interval if recurrence else None,
            "recurrence": recurrence,
        }
        for attribute, value in normalised.items():
            object.__setattr__(self, attribute, value)
        # What functools.update_wrapper copies (a frozen value cannot take its setattr).
        for attribute in functools.WRAPPER_ASSIGNMENTS:
            if hasattr(func, attribute):
                object.__setattr__(self, attribute, getattr(func, attribute))
        object.__setattr__(self, "__wrapped__", func)

    @property
    def recurring(self) -> bool:
        """True when the handler runs on a schedule (`schedule=` or `every=`)."""
        return self.recurrence is not None

    def using(self, **options: Any) -> Handler:
        """A copy of this handler with some options changed, for one or more enqueues.

        Accepts queue, priority, attempts, backoff, timeout, delay, at and idempotency_key.
        """
        unknown = sorted(set(options) - USING_OPTIONS)
        if unknown:
            raise TypeError(
                f"{self.name}.using() got unknown option(s) {', '.join(unknown)}; "
                f"it accepts {', '.join(sorted(USING_OPTIONS))}"
            )
        # A new delay replaces an earlier at, and the other way round.
        if "delay" in options:
            options.setdefault("at", None)
        if "at" in options:
            options.setdefault("delay", None)
        return replace(self, **options)

    def enqueue(self, *args: Any, **kwargs: Any) -> Job:
        """Record a job for this handler and push it to RQ when the transaction commits."""
        from .services import enqueue

        return enqueue(self, args, kwargs)

    def enqueue_many(self, calls: Iterable[tuple | Call]) -> list[Job]:
        """Record many jobs at once: one bulk insert and one Redis pipeline per batch.

        Each call is a tuple of positional arguments or a `Call(*args, **kwargs)`:
        `send_email.enqueue_many([("a@example.com", "Hi"), Call("b@example.com", subject="Yo")])`.
        """
        from .services import enqueue_many

        return enqueue_many(self, (Call.of(call) for call in calls))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the handler inline, in this process, with no record and no retries."""
        if self.takes_context:
            return self.func(InlineContext(), *args, **kwargs)
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Handler {self.name} queue={self.queue}>"


# The options, read off the fields: what `using()` accepts, and what `@job_handler` accepts.
USING_OPTIONS = frozenset(option.name for option in fields(Handler) if option.metadata.get("using"))
DECORATOR_OPTIONS = frozenset(
    option.name
    for option in fields(Handler)
    if option.init and option.kw_only and option.name != "name" and not option.metadata.get("per_enqueue")
)


def job_handler(name: str, **options: Any) -> Callable[[Callable[..., Any]], Handler]:
    """Register the decorated function as the handler of jobs called `name`.

    Options: queue, priority, attempts, backoff, timeout, give_up_on, on_retry,
    on_failure, takes_context, auto_retry. They apply on every enqueue.
    Recurring handlers add `schedule=` (cron) or `every=` (a period), and `max_interval=`;
    `breaker=` names the circuit breaker its attempts go through.
    """
    unknown = sorted(set(options) - DECORATOR_OPTIONS)
    if unknown:
        raise TypeError(f"@job_handler({name!r}) got unknown option(s): {', '.join(unknown)}")

    def decorator(func: Callable[..., Any]) -> Handler:
        handler = Handler(func, name=name, **options)
        register(handler)
        return handler

    return decorator


def _origin(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def register(handler: Handler) -> None:
    """Add a handler to the registry; a second function under one name is a setup error."""
    existing = _registry.get(handler.name)
    if existing is not None and _origin(existing.func) != _origin(handler.func):
        raise ImproperlyConfigured(
            f"Two job handlers are named {handler.name!r}: {_origin(existing.func)} and "
            f"{_origin(handler.func)}. Give one of them another name."
        )
    _registry[handler.name] = handler


def get_handler(name: str) -> Handler:
    """The handler registered under `name`; `HandlerNotFound` if there is none."""
    try:
        return _registry[name]
    except KeyError:
        raise HandlerNotFound(
            f"No job handler is registered under {name!r}. Is its app in INSTALLED_APPS, "
            "and the function decorated with @job_handler in the app's handlers.py (or, for a django.tasks "
            "task, with @task in the app's tasks.py)?"
        ) from None


def all_handlers() -> dict[str, Handler]:
    """Every registered handler by name."""
    return dict(_registry)


def autodiscover() -> None:
    """Import every installed app's `handlers.py`, the way the admin imports `admin.py`."""
    autodiscover_modules("handlers")
