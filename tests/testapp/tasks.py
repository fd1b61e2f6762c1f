"""django.tasks functions the tests enqueue through jobs_app's backend (tests/tasks/)."""

import os
import time
from pathlib import Path

from jobs_app import Backoff, PermanentError, TransientError, retry_policy
from jobs_app.tasks_compat import task


@task
def add(a, b):
    return a + b


@task(queue_name="email", priority=50)
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@task(takes_context=True)
@retry_policy(attempts=3, backoff=Backoff.fixed(0))
def succeeds_on_attempt(context, attempt):
    if context.attempt < attempt:
        raise RuntimeError(f"attempt {context.attempt} fails")
    return {"attempt": context.attempt, "id": context.task_result.id, "workers": len(context.task_result.worker_ids)}


@task
@retry_policy(attempts=5, backoff=Backoff.fixed(0), give_up_on=(ValueError,), timeout=30)
def raises(kind):
    if kind == "value":
        raise ValueError("bad value")
    if kind == "permanent":
        raise PermanentError("the address does not exist")
    raise TransientError(f"{kind}: try again")


@task
def configured_by_path(kind):
    """No @retry_policy: OPTIONS["tasks"] gives it 4 attempts and give_up_on=[KeyError]."""
    raise KeyError(kind) if kind == "key" else RuntimeError(kind)


@task
@retry_policy(attempts=1, timeout=1)
def slow(seconds):
    time.sleep(seconds)
    return "finished"


@task(takes_context=True)
@retry_policy(attempts=3, backoff=Backoff.fixed(0), timeout=120)
def sleeps_first(context, seconds, pid_file):
    """Writes its pid to `pid_file`, then sleeps `seconds` on its first attempt only."""
    if context.attempt == 1:
        Path(pid_file).write_text(str(os.getpid()))
        time.sleep(seconds)
    return context.attempt
