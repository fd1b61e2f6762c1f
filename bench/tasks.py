"""The work the benchmark runs: the same no-op and failing functions, as jobs_app handlers
and as bare RQ functions."""

from rq import get_current_job

from jobs_app import Backoff, job_handler


def noop(n):
    """A bare RQ function: does nothing."""
    return None


def fail(n):
    """A bare RQ function: always raises."""
    raise RuntimeError("benchmark failure")


@job_handler("bench.noop")
def noop_handler(n):
    return None


@job_handler("bench.fail", attempts=3, backoff=Backoff.fixed(0))
def fail_handler(n):
    raise RuntimeError("benchmark failure")


def fail_once(n):
    """A bare RQ function: jobs whose number ends in 0, 1 or 2 (30%) fail their first attempt.

    Enqueued with `Retry(max=1)`: RQ's `retries_left` is 1 on the first attempt, 0 on the retry.
    """
    if n % 10 < 3 and get_current_job().retries_left:
        raise RuntimeError("benchmark failure, once")
    return None


@job_handler("bench.fail_once", attempts=2, backoff=Backoff.fixed(0), takes_context=True)
def fail_once_handler(context, n):
    if n % 10 < 3 and context.attempt == 1:
        raise RuntimeError("benchmark failure, once")
    return None
