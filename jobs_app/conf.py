"""The one place jobs_app reads its settings, lazily, so `override_settings` works.

`app_settings.NAME` is the raw value of `JOBS_APP["NAME"]` (or its default); the lower-case
properties return the values merged with their defaults and typed: `auto_retry`, `retention`,
`breaker(name)`. `checks.py` reports settings that are not valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from .policy import AutoRetry

DEFAULTS: dict[str, Any] = {
    # Largest JSON payload (arguments) a job may carry, in bytes.
    "MAX_PAYLOAD_BYTES": 1024 * 1024,
    # Dotted paths of plain django-rq functions that jobs_app's workers may also run.
    "ALLOWED_RQ_FUNCTIONS": (),
    # Seconds RQ keeps the entry of a job whose work horse died (the database keeps the history).
    "RQ_FAILURE_TTL": 7 * 24 * 3600,
    # Seconds RQ's job timeout exceeds the handler's, so that recording an attempt is never cut short.
    "TIMEOUT_MARGIN": 30,
    # Let anyone call GET /api/jobs/health without credentials (for load balancers and probes).
    "HEALTH_PUBLIC": False,
    # The sweeper (`manage.py retry_failed`): re-run a failed job `delay` seconds after it failed,
    # at most `max_retries` times, then move it to `dead`. A handler's `auto_retry=` overrides it.
    "AUTO_RETRY": {"delay": 300, "max_retries": 3},
    # Seconds a queued, scheduled or running job is left alone before the sweeper's repair touches it,
    # and how old a worker's last heartbeat may be before the repair takes the worker for dead.
    "REPAIR_GRACE": 60,
    # More jobs than this going `dead` within an hour: the sweeper logs an error and mails the admins.
    # None turns the alert off.
    "ALERT_DEAD_THRESHOLD": 100,
    # `manage.py purge_jobs`: how long finished jobs are kept, in seconds, by state.
    "RETENTION": {"succeeded": 7 * 24 * 3600, "dead": 30 * 24 * 3600, "cancelled": 30 * 24 * 3600},
    # Circuit breakers by name (`@job_handler(..., breaker="whatsapp")`): consecutive failures that open
    # one, seconds it stays open, successes in half-open that close it. Missing keys take these defaults.
    "BREAKERS": {},
    # Jobs a second at which "Retry group" (admin, API, `retry_failed --group`) re-runs a failure group's jobs
    # by default: they are scheduled that far apart, so a mended upstream is not knocked over again.
    "GROUP_RETRY_RATE": 10,
    # Let anyone scrape GET /api/jobs/metrics/prometheus without credentials (a Prometheus on a private network).
    "METRICS_PUBLIC": False,
    # Seconds the Prometheus endpoint reuses the figures it reads from the database (jobs per queue and state,
    # dead in the last hour, stale recurring handlers), shared by every web process through Redis: a scrape
    # never counts a large table more often than this. 0 counts on every scrape.
    "METRICS_CACHE_SECONDS": 15,
    # Seconds a worker waits before looking again at a job of a paused queue or handler: how soon after a
    # resume the held jobs run.
    "PAUSE_RECHECK": 5,
    # PostgreSQL (psycopg 3): the worker's claim and outcome as server-side prepared statements, parsed and planned
    # once per connection instead of on every job. Off by default, as Django leaves prepared statements off: a
    # pooler in transaction mode that cannot carry them (pgbouncer before 1.21, or `max_prepared_statements = 0`)
    # would hand them to another client's server connection.
    "PREPARED_STATEMENTS": False,
}

BREAKER_DEFAULTS = {"failure_threshold": 5, "recovery_timeout": 60, "success_threshold": 3}


@dataclass(frozen=True, kw_only=True)
class BreakerSettings:
    """One circuit breaker's settings, each key the settings leave out taken from `BREAKER_DEFAULTS`."""

    failure_threshold: int = BREAKER_DEFAULTS["failure_threshold"]
    recovery_timeout: float = BREAKER_DEFAULTS["recovery_timeout"]
    success_threshold: int = BREAKER_DEFAULTS["success_threshold"]


class AppSettings:
    """`app_settings.NAME` reads `settings.JOBS_APP["NAME"]`, falling back to the default."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"jobs_app has no setting {name!r}")
        return getattr(settings, "JOBS_APP", {}).get(name, DEFAULTS[name])

    @property
    def auto_retry(self) -> AutoRetry:
        """`AUTO_RETRY` as an `AutoRetry`, missing keys from the defaults."""
        from .policy import default_auto_retry

        return default_auto_retry({**DEFAULTS["AUTO_RETRY"], **self.AUTO_RETRY})

    @property
    def retention(self) -> dict[str, timedelta]:
        """`RETENTION` by state as timedeltas, missing states from the defaults."""
        from .policy import to_seconds

        configured = {**DEFAULTS["RETENTION"], **self.RETENTION}
        return {
            state: timedelta(seconds=to_seconds(configured[state], name=f"RETENTION[{state!r}]"))
            for state in DEFAULTS["RETENTION"]
        }

    def breaker(self, name: str) -> BreakerSettings:
        """`BREAKERS[name]`, each missing key from `BREAKER_DEFAULTS`."""
        return BreakerSettings(**{**BREAKER_DEFAULTS, **self.BREAKERS.get(name, {})})


app_settings = AppSettings()
