"""Example handlers that `make run` enqueues, so the admin has something to show."""

import random
import time
from datetime import timedelta

from jobs_app import Backoff, PermanentError, TransientError, job_handler


@job_handler("demo.square")
def square(number: int) -> dict:
    """Always succeeds."""
    return {"number": number, "square": number * number}


@job_handler("demo.flaky_sync", attempts=4, backoff=Backoff.exponential(delay=1, max_delay=8, jitter=True))
def flaky_sync(account_id: int) -> str:
    """Fails now and then, as a call to a busy service does; usually a retry gets through."""
    if random.random() < 0.5:
        raise TransientError(f"upstream timed out while syncing account {account_id}")
    return f"account {account_id} synced"


@job_handler("demo.broken_report", queue="cleanup", attempts=3, backoff=Backoff.fixed(2))
def broken_report(report: str) -> None:
    """Always fails: it ends `failed`, for the sweeper to retry later."""
    raise RuntimeError(f"report {report!r}: the reporting database refused the connection")


@job_handler("demo.send_welcome", queue="email", give_up_on=(ValueError,))
def send_welcome(address: str) -> str:
    """Raises a permanent error for a bad address: `dead` at once, never retried."""
    if "@" not in address:
        raise PermanentError(f"{address!r} is not an email address")
    return f"welcome mail sent to {address}"


@job_handler("demo.import_rows", queue="notification", takes_context=True)
def import_rows(context, rows: int) -> int:
    """Reports its progress as it goes."""
    for done in range(rows):
        time.sleep(0.05)
        context.set_progress(round(100 * (done + 1) / rows), f"{done + 1} of {rows} rows")
    return rows


@job_handler("demo.heartbeat", every=timedelta(minutes=1), queue="cleanup")
def heartbeat() -> str:
    """A recurring job: `manage.py jobs_cron` enqueues it once a minute (see the dashboard's "Recurring jobs")."""
    return "still here"


@job_handler("demo.nightly_report", schedule="0 2 * * *", queue="cleanup", breaker="reporting")
def nightly_report() -> str:
    """A cron job at 02:00 UTC, through the `reporting` circuit breaker."""
    return "report built"
