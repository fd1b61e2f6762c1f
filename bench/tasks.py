"""The work the benchmark runs: the same no-op and failing functions, as jobs_app handlers
and as bare RQ functions."""

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
