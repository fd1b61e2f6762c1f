"""`GET /api/jobs/metrics/prometheus`: the figures in Prometheus's text exposition format.

Built with `prometheus-client`, an optional extra (`pip install django-rq-jobs-app[prometheus]`,
or `prometheus-client` itself): `exposition()` raises `PrometheusClientMissing` without it.

Where each figure comes from, so that a scrape stays cheap at millions of rows:
- counters (`jobs_app_attempts_total`, `jobs_app_attempt_duration_seconds`): Redis, one HGETALL
  (`jobs_app.metrics`), true counters summed over every worker;
- live Redis state (RQ queue lengths, workers, breakers, pauses): a few round trips;
- database figures (jobs per queue and state, dead in the last hour, stale recurring handlers):
  one snapshot shared by every web process through Redis, counted again in the background at
  most every `JOBS_APP["METRICS_CACHE_SECONDS"]`.

A feature that wants its own single-value gauge adds it to `GAUGES`, as the failure groups do.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from . import breaker, metrics, pauses, recurring, stats, transport
from .conf import app_settings
from .models import FailureGroup, Job
from .policy import to_seconds
from .states import State

logger = logging.getLogger("jobs_app")

SNAPSHOT_KEY = "jobs_app:metrics:snapshot"
# A snapshot not refreshed for this many periods (no scrape came) is dropped: the next scrape counts afresh.
_KEEP_PERIODS = 20
INSTALL_HINT = "pip install 'django-rq-jobs-app[prometheus]' (or pip install 'prometheus-client>=0.20')"


def open_failure_groups() -> int:
    """Failure groups still open (neither resolved nor muted): a count over the small groups table."""
    return FailureGroup.objects.filter(status=FailureGroup.Status.OPEN).count()


# Extra single-value gauges: name -> (help text, a function returning the value). Each function runs on
# every scrape, so it must be cheap (an indexed count of a small set, a Redis read).
GAUGES: dict[str, tuple[str, Callable[[], float]]] = {
    "jobs_app_failure_groups_open": ("Failure groups still open.", open_failure_groups),
}


class PrometheusClientMissing(ImportError):
    """`prometheus-client` is not installed: the endpoint answers 501 with `INSTALL_HINT`."""


def database_figures() -> dict[str, Any]:
    """Jobs per queue and state, jobs gone dead in the last hour, and each recurring handler's staleness."""
    since = timezone.now() - timedelta(hours=1)
    return {
        "jobs": stats.state_counts(),
        "dead_last_hour": Job.objects.filter(state=State.DEAD, finished_at__gte=since).count(),
        "recurring_stale": {status.handler: status.stale for status in recurring.statuses()},
    }


def cached_database_figures() -> dict[str, Any]:
    """`database_figures()` from a snapshot in Redis that every web process shares.

    A snapshot older than `METRICS_CACHE_SECONDS` is still answered, and one process (a Redis
    flag decides which) counts again in a background thread: no scrape waits for the count but
    the very first (no snapshot yet, or none for `_KEEP_PERIODS` periods). 0 counts on every scrape.
    """
    period = to_seconds(app_settings.METRICS_CACHE_SECONDS, name="METRICS_CACHE_SECONDS")
    if period < 1:
        return database_figures()
    cached = transport.read_value(SNAPSHOT_KEY)
    if cached is None:
        return _refresh(period)
    snapshot = json.loads(cached)
    if time.time() - snapshot["at"] >= period and transport.set_once("metrics:refreshing", ttl=math.ceil(period)):
        threading.Thread(target=_refresh_in_background, args=(period,), name="jobs_app-metrics", daemon=True).start()
    return snapshot["figures"]


def _refresh(period: float) -> dict[str, Any]:
    figures = database_figures()
    snapshot = json.dumps({"at": time.time(), "figures": figures})
    transport.write_value(SNAPSHOT_KEY, snapshot, ttl=math.ceil(period * _KEEP_PERIODS))
    return figures


def _refresh_in_background(period: float) -> None:
    try:
        _refresh(period)
    except Exception:  # a thread of its own: nobody else would see the error
        logger.exception("The metrics snapshot could not be refreshed; the next scrape tries again")
    finally:
        connection.close()  # this thread's own database connection


class JobsAppCollector:
    """A custom prometheus_client collector: every figure read afresh (or from the snapshot) per scrape."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        figures = cached_database_figures()
        jobs = GaugeMetricFamily("jobs_app_jobs", "Jobs by queue and state (database rows).", labels=["queue", "state"])
        for queue, per_state in sorted(figures["jobs"].items()):
            for state in State.values:
                jobs.add_metric([queue, state], per_state.get(state, 0))
        yield jobs
        yield GaugeMetricFamily(
            "jobs_app_dead_last_hour", "Jobs that went dead in the last hour.", value=figures["dead_last_hour"]
        )
        stale = GaugeMetricFamily(
            "jobs_app_recurring_stale",
            "1 when a recurring handler has not succeeded within its max_interval.",
            labels=["handler"],
        )
        for handler, is_stale in sorted(figures["recurring_stale"].items()):
            stale.add_metric([handler], int(is_stale))
        yield stale

        counters = metrics.read_counters()
        attempts = CounterMetricFamily(
            "jobs_app_attempts", "Attempts finished, by handler and outcome.", labels=["handler", "outcome"]
        )
        for (handler, outcome), count in sorted(counters.attempts.items()):
            attempts.add_metric([handler, outcome], count)
        yield attempts
        durations = HistogramMetricFamily(
            "jobs_app_attempt_duration_seconds", "How long attempts took, by handler.", labels=["handler"]
        )
        for handler, histogram in sorted(counters.durations.items()):
            durations.add_metric([handler], buckets=list(histogram.buckets), sum_value=histogram.sum)
        yield durations

        lengths = GaugeMetricFamily(
            "jobs_app_rq_queue_length", "Job ids waiting in RQ, all priorities together.", labels=["queue"]
        )
        for queue, length in sorted(stats.rq_queue_lengths().items()):
            lengths.add_metric([queue], length)
        yield lengths
        yield GaugeMetricFamily("jobs_app_workers", "RQ workers alive.", value=len(stats.current_jobs()))
        breakers = GaugeMetricFamily(
            "jobs_app_breaker_open", "1 while a circuit breaker holds its jobs back (open).", labels=["breaker"]
        )
        for one in breaker.states():
            breakers.add_metric([one.name], int(one.state == breaker.OPEN))
        yield breakers
        paused = GaugeMetricFamily("jobs_app_paused", "1 for each paused queue or handler.", labels=["kind", "name"])
        for pause in pauses.paused():
            paused.add_metric([pause.kind, pause.name], 1)
        yield paused
        for name, (documentation, read) in sorted(GAUGES.items()):
            yield GaugeMetricFamily(name, documentation, value=read())


def exposition() -> tuple[bytes, str]:
    """The text exposition of every figure, and its content type.

    Raises `PrometheusClientMissing` without prometheus-client, `redis.RedisError` when Redis is unreachable.
    """
    try:
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
    except ImportError as error:
        raise PrometheusClientMissing(f"prometheus-client is not installed: {INSTALL_HINT}") from error
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobsAppCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
