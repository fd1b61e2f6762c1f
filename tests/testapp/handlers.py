"""Handlers the tests enqueue. They record what happened in Redis-free, database-free ways
(return values, raised errors, a module-level list for hooks)."""

import os
import time
from datetime import timedelta

from jobs_app import AutoRetry, Backoff, PermanentError, TransientError, job_handler

hook_calls: list[tuple[str, str, str]] = []


def record_retry(job, exc):
    hook_calls.append(("retry", str(job.pk), str(exc)))


def record_failure(job, exc):
    hook_calls.append(("failure", str(job.pk), str(exc)))


def broken_hook(job, exc):
    raise RuntimeError("the hook itself is broken")


@job_handler("test.add")
def add(a, b):
    return a + b


@job_handler("test.echo", queue="email")
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@job_handler(
    "test.always_fails",
    attempts=3,
    backoff=Backoff.fixed(0),
    on_retry=record_retry,
    on_failure=record_failure,
)
def always_fails(message="boom"):
    raise RuntimeError(message)


@job_handler("test.fails_with_backoff", attempts=2, backoff=Backoff.fixed(30))
def fails_with_backoff():
    raise RuntimeError("try again later")


@job_handler("test.permanent", attempts=5, backoff=Backoff.fixed(0), on_failure=record_failure)
def permanent():
    raise PermanentError("the address does not exist")


@job_handler("test.gives_up_on_value_error", attempts=5, backoff=Backoff.fixed(0), give_up_on=(ValueError,))
def gives_up_on_value_error(kind):
    if kind == "value":
        raise ValueError("bad value")
    if kind == "transient":
        raise TransientError("a transient error wins over give_up_on")
    raise KeyError(kind)


@job_handler("test.broken_hooks", attempts=2, backoff=Backoff.fixed(0), on_retry=broken_hook, on_failure=broken_hook)
def broken_hooks():
    raise RuntimeError("handler failed")


@job_handler("test.slow", attempts=1, timeout=1)
def slow(seconds):
    time.sleep(seconds)
    return "finished"


@job_handler("test.returns_object")
def returns_object():
    return object()


@job_handler("test.progress", takes_context=True)
def progress(context, steps):
    for step in range(1, steps + 1):
        context.set_progress(round(100 * step / steps), f"step {step}")
    return {"attempt": context.attempt, "job_id": str(context.job.pk)}


@job_handler("test.succeeds_on_attempt", attempts=3, backoff=Backoff.fixed(0), takes_context=True)
def succeeds_on_attempt(context, attempt):
    if context.attempt < attempt:
        raise TransientError(f"attempt {context.attempt} fails")
    return context.attempt


@job_handler("test.pid")
def pid():
    return os.getpid()


@job_handler("test.needs_file", attempts=1)
def needs_file(path):
    """Fails until the file exists: a passing outage that a re-run gets past."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return "found"


@job_handler("test.unencodable", attempts=1, takes_context=True)
def unencodable(context, mode):
    """Text UTF-8 cannot encode (a lone surrogate) where a handler can put it: progress, result, error."""
    context.set_progress(50, "half \ud800 way")
    if mode == "raise":
        raise RuntimeError("broken \ud800 text\x00")
    return {"text": "bad \udfff", "\ud800": 1}


# The sweeper's tests (tests/sweeper/).


class RateLimitError(Exception):
    pass


@job_handler("test.sweeper_no_auto_retry", auto_retry=False)
def sweeper_no_auto_retry():
    raise RuntimeError("auto-retry is off for me")


@job_handler(
    "test.sweeper_rate_limited",
    attempts=1,
    auto_retry=AutoRetry(delay=60, max_retries=1, delay_for={"RateLimitError": 900}),
)
def sweeper_rate_limited():
    raise RateLimitError("slow down")


@job_handler("test.sweeper_sleeps_first", attempts=3, backoff=Backoff.fixed(0), takes_context=True, timeout=300)
def sweeper_sleeps_first(context, seconds, pid_file):
    """Writes its process id to `pid_file` and sleeps through its first attempt (long enough to be
    killed); later attempts return at once."""
    if context.attempt == 1:
        with open(pid_file, "w") as file:
            file.write(str(os.getpid()))
        time.sleep(seconds)
    return context.attempt


# Recurring jobs and circuit breakers (tests/recurring/, tests/breaker/).


@job_handler("test.nightly", schedule="0 0 * * *", attempts=2, backoff=Backoff.fixed(0))
def nightly():
    return "maintained"


@job_handler("test.daily_sync", every=timedelta(days=1), max_interval=timedelta(hours=30))
def daily_sync():
    return "synced"


@job_handler("test.whatsapp", breaker="test-whatsapp", attempts=1)
def whatsapp(path):
    """Fails while the file at `path` says "down": a dependency that is down, then back."""
    with open(path) as file:
        if file.read().strip() == "down":
            raise ConnectionError("whatsapp is down")
    return "sent"


# The forking worker's work horse (tests/test_horse.py).


class Probe(Exception):
    """An exception with state of its own: a hook that sees `code` saw the handler's exception itself."""

    def __init__(self, code):
        super().__init__(f"probe {code}")
        self.code = code


def _note_hook(name, job, exc):
    from jobs_app.models import Job

    state = Job.objects.values_list("state", flat=True).get(pk=job.pk)
    with open(job.args[0], "a") as notes:
        notes.write(f"{name} {type(exc).__name__} {exc.code} {os.getpid()} {state}\n")


@job_handler(
    "test.horse_hooked",
    attempts=2,
    backoff=Backoff.fixed(0),
    on_retry=lambda job, exc: _note_hook("on_retry", job, exc),
    on_failure=lambda job, exc: _note_hook("on_failure", job, exc),
)
def horse_hooked(path):
    raise Probe(7)


@job_handler("test.ignores_time_limit", attempts=1, timeout=1)
def ignores_time_limit(seconds):
    """A handler stuck where the time limit's signal cannot reach it (here: the signal ignored)."""
    import signal

    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    time.sleep(seconds)
    return "finished"


@job_handler("test.dies_once", attempts=2, backoff=Backoff.fixed(0), takes_context=True)
def dies_once(context):
    """Its process dies in the first attempt, as if the OOM killer took it."""
    import signal

    if context.attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


from tests.testapp import fault_handlers  # noqa: E402, F401  (the faults suite's handlers)
