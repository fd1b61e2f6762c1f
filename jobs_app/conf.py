"""The one place jobs_app reads its settings, lazily, so `override_settings` works."""

from __future__ import annotations

from typing import Any

from django.conf import settings

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
    # Seconds a queued, scheduled or running job is left alone before the sweeper's repair touches it.
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
}

BREAKER_DEFAULTS = {"failure_threshold": 5, "recovery_timeout": 60, "success_threshold": 3}


class AppSettings:
    """`app_settings.NAME` reads `settings.JOBS_APP["NAME"]`, falling back to the default."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"jobs_app has no setting {name!r}")
        return getattr(settings, "JOBS_APP", {}).get(name, DEFAULTS[name])


app_settings = AppSettings()
