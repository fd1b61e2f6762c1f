"""`@job_handler`: declare a handler and its options once; look handlers up by name."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from croniter import croniter
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules

from .exceptions import HandlerNotFound
from .policy import AutoRetry, Backoff, Seconds, to_seconds
from .states import Priority

if TYPE_CHECKING:
    from .models import Job

_registry: dict[str, Handler] = {}

# The per-enqueue options `Handler.using()` accepts.
USING_OPTIONS = frozenset({"queue", "priority", "attempts", "backoff", "timeout", "delay", "at", "idempotency_key"})
# The options `@job_handler` accepts: they hold on every enqueue.
DECORATOR_OPTIONS = frozenset(
    {
        "queue",
        "priority",
        "attempts",
        "backoff",
        "timeout",
        "give_up_on",
        "on_retry",
        "on_failure",
        "takes_context",
        "auto_retry",
        "schedule",
        "every",
        "max_interval",
        "breaker",
    }
)
MAX_IDEMPOTENCY_KEY_LENGTH = 200


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


class Handler:
    """A registered job handler.

    Call it to run the function inline; `.enqueue(...)` records a job and runs it on a
    worker with the handler's options; `.using(...)` returns a copy with some options changed.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str,
        queue: str = "default",
        priority: str = Priority.NORMAL,
        attempts: int = 3,
        backoff: Backoff | None = None,
        timeout: Seconds | None = None,
        give_up_on: Iterable[type[BaseException]] = (),
        on_retry: Callable[[Job, BaseException], Any] | None = None,
        on_failure: Callable[[Job, BaseException], Any] | None = None,
        takes_context: bool = False,
        delay: Seconds | None = None,
        at: datetime | None = None,
        idempotency_key: str | None = None,
        auto_retry: AutoRetry | bool | None = None,
        schedule: str | None = None,
        every: Seconds | None = None,
        max_interval: Seconds | None = None,
        breaker: str | None = None,
    ) -> None:
        if not callable(func):
            raise TypeError(f"@job_handler must decorate a function, not {type(func).__name__}")
        if not isinstance(name, str) or not name.strip():
            raise TypeError("a job handler needs a non-empty name, for example @job_handler('email.send')")
        if not isinstance(queue, str) or not queue:
            raise TypeError(f"{name}: queue must be a queue name from RQ_QUEUES, got {queue!r}")
        if priority not in Priority.values:
            raise ValueError(f"{name}: priority must be one of {', '.join(Priority.values)}, got {priority!r}")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"{name}: attempts must be a whole number of at least 1, got {attempts!r}")
        if backoff is None:
            backoff = Backoff.exponential(delay=1)
        if not isinstance(backoff, Backoff):
            raise TypeError(f"{name}: backoff must be Backoff.exponential(...) or Backoff.fixed(...)")
        give_up_on = tuple(give_up_on)
        if not all(isinstance(cls, type) and issubclass(cls, BaseException) for cls in give_up_on):
            raise TypeError(f"{name}: give_up_on must be a tuple of exception classes, got {give_up_on!r}")
        for hook_name, hook in (("on_retry", on_retry), ("on_failure", on_failure)):
            if hook is not None and not callable(hook):
                raise TypeError(f"{name}: {hook_name} must be callable(job, exc), got {hook!r}")
        if delay is not None and at is not None:
            raise TypeError(f"{name}: give delay= or at=, not both")
        if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
            raise ValueError(f"{name}: at= must be a timezone-aware datetime, got {at!r}")
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH
        ):
            raise ValueError(
                f"{name}: idempotency_key must be a string of 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
            )

        if auto_retry is True:
            auto_retry = None
        if auto_retry is not None and auto_retry is not False and not isinstance(auto_retry, AutoRetry):
            raise TypeError(f"{name}: auto_retry must be AutoRetry(...), False (off) or None (the settings' default)")

        if schedule is not None and every is not None:
            raise TypeError(f"{name}: give schedule= (cron) or every= (a period), not both")
        if schedule is not None and (not isinstance(schedule, str) or not croniter.is_valid(schedule)):
            raise ValueError(
                f"{name}: schedule must be a cron expression such as '0 0 * * *' (minute hour day month weekday), "
                f"got {schedule!r}"
            )
        every_seconds = None if every is None else to_seconds(every, name=f"{name}: every")
        if every_seconds is not None and every_seconds < 1:
            raise ValueError(f"{name}: every must be at least 1 second, got {every!r}")
        if max_interval is not None and schedule is None and every is None:
            raise TypeError(f"{name}: max_interval= only means something with schedule= or every=")
        max_interval_seconds = None if max_interval is None else to_seconds(max_interval, name=f"{name}: max_interval")
        if max_interval_seconds == 0:
            raise ValueError(f"{name}: max_interval must be more than 0 seconds")
        if breaker is not None and (not isinstance(breaker, str) or not breaker.strip() or ":" in breaker):
            raise ValueError(f"{name}: breaker must be a name such as 'whatsapp' (no colons), got {breaker!r}")

        self.func = func
        self.name = name
        self.queue = queue
        self.priority = Priority(priority)
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = None if timeout is None else to_seconds(timeout, name=f"{name}: timeout")
        if self.timeout == 0:
            raise ValueError(f"{name}: timeout must be more than 0 seconds")
        self.give_up_on = give_up_on
        self.on_retry = on_retry
        self.on_failure = on_failure
        self.takes_context = bool(takes_context)
        self.delay = None if delay is None else to_seconds(delay, name=f"{name}: delay")
        self.at = at
        self.idempotency_key = idempotency_key
        # None: JOBS_APP["AUTO_RETRY"]; False: failed jobs go straight to `dead`.
        self.auto_retry = auto_retry
        # Recurring: a cron expression (UTC, as rq's cron scheduler reads it) or a period in seconds.
        self.schedule = schedule
        self.every = every_seconds
        self._max_interval = max_interval_seconds
        self.breaker = breaker
        functools.update_wrapper(self, func)

    @property
    def recurring(self) -> bool:
        """True when the handler runs on a schedule (`schedule=` or `every=`)."""
        return self.schedule is not None or self.every is not None

    @functools.cached_property
    def max_interval(self) -> float | None:
        """Seconds a recurring handler may go without a successful run before it counts as unhealthy.

        `max_interval=`, or 1.5 times its period (for a cron schedule, its longest gap between runs).
        """
        if self._max_interval is not None or not self.recurring:
            return self._max_interval
        from .recurring import period

        return 1.5 * period(self)

    def _options(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "queue": self.queue,
            "priority": self.priority,
            "attempts": self.attempts,
            "backoff": self.backoff,
            "timeout": self.timeout,
            "give_up_on": self.give_up_on,
            "on_retry": self.on_retry,
            "on_failure": self.on_failure,
            "takes_context": self.takes_context,
            "delay": self.delay,
            "at": self.at,
            "idempotency_key": self.idempotency_key,
            "auto_retry": self.auto_retry,
            "schedule": self.schedule,
            "every": self.every,
            "max_interval": self._max_interval,
            "breaker": self.breaker,
        }

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
        merged = self._options()
        if "delay" in options:
            merged["at"] = None
        if "at" in options:
            merged["delay"] = None
        merged.update(options)
        return Handler(self.func, **merged)

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
            from .runner import InlineContext

            return self.func(InlineContext(), *args, **kwargs)
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Handler {self.name} queue={self.queue}>"


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
