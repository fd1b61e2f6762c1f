"""Handlers for the fault-injection suite (tests/faults/): they tell the test when they run, and fail on cue."""

import os
import signal
import time
from pathlib import Path

from jobs_app import AutoRetry, Backoff, TransientError, job_handler


def _mark(directory: str, name: str) -> None:
    Path(directory, name).write_text(str(os.getpid()))


@job_handler("faults.hold", attempts=3, backoff=Backoff.fixed(0), takes_context=True, timeout=120)
def hold(context, directory, holds=1):
    """Writes `<dir>/started-<attempt>` (its pid), then, on its first `holds` attempts, waits for
    `<dir>/release` (up to 60 s); writes `<dir>/ran-<job id>-<n>` for every run, then returns."""
    _mark(directory, f"started-{context.attempt}")
    runs = len([name for name in os.listdir(directory) if name.startswith(f"ran-{context.job.pk}-")])
    _mark(directory, f"ran-{context.job.pk}-{runs + 1}")
    if context.attempt <= holds:
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(directory, "release")) and time.monotonic() < deadline:
            time.sleep(0.05)
    return context.attempt


@job_handler("faults.count", attempts=3, backoff=Backoff.fixed(0), takes_context=True)
def count(context, directory):
    """Records each run as a file `<dir>/ran-<job id>-<n>`: how many times the handler really ran."""
    runs = len([name for name in os.listdir(directory) if name.startswith(f"ran-{context.job.pk}-")])
    _mark(directory, f"ran-{context.job.pk}-{runs + 1}")
    return runs + 1


@job_handler(
    "faults.flaky",
    attempts=3,
    backoff=Backoff.fixed(0),
    takes_context=True,
    auto_retry=AutoRetry(delay=0, max_retries=1),
)
def flaky(context, fail_first):
    """Fails its first `fail_first` attempts counted over every cycle (a cycle uses all its attempts
    before a re-run), then succeeds."""
    overall = (context.job.cycle - 1) * context.job.max_attempts + context.attempt
    if overall <= fail_first:
        raise TransientError(f"attempt {overall} of {fail_first} failing ones")
    return overall


@job_handler("faults.stuck", attempts=3, backoff=Backoff.fixed(0), takes_context=True, timeout=1)
def stuck(context, directory):
    """On its first attempt, ignores its 1 s time limit as code stuck in C would (SIGALRM blocked) for
    up to 60 s; writes `<dir>/started-<attempt>` (its pid) first. Later attempts return at once."""
    _mark(directory, f"started-{context.attempt}")
    if context.attempt == 1:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(60)
    return context.attempt
