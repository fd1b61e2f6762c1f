"""The jobs dashboard: jobs per state and queue, RQ queue lengths, workers alive, attempts per hour,
timings per handler, recurring jobs, circuit breakers, and what is paused."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from redis import RedisError

from .. import breaker, pauses, recurring, stats
from ..registry import all_handlers
from ..states import State
from .chart import FAILED_COLOUR, SUCCEEDED_COLOUR, attempts_chart
from .display import state_badge

if TYPE_CHECKING:
    from .jobs import JobAdmin

logger = logging.getLogger("jobs_app")

CHART_HOURS = 24


def dashboard_view(model_admin: JobAdmin, request: HttpRequest) -> HttpResponse:
    """Read-only figures from `jobs_app.stats`; Redis being down is shown, not raised."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    counts = stats.state_counts()
    totals = stats.total_state_counts(counts)
    redis_error = ""
    try:
        lengths = stats.rq_queue_lengths()
        workers = stats.workers_by_queue()
    except RedisError as error:
        logger.warning("Dashboard: Redis cannot be reached (%s)", error)
        lengths, workers, redis_error = {}, {}, str(error)
    try:
        breakers = breaker.states()
        paused = {(pause.kind, pause.name): pause for pause in pauses.paused()}
    except RedisError:
        breakers, paused = [], {}
    series = stats.attempts_per_hour(CHART_HOURS)
    rows = [
        {
            "queue": queue,
            "counts": [per_state[state] for state in State.values],
            "total": sum(per_state.values()),
            "rq_length": lengths.get(queue),
            "workers": workers.get(queue, []),
            "no_worker": bool(per_state.get(State.QUEUED)) and not redis_error and not workers.get(queue),
            "paused": paused.get((pauses.QUEUE, queue)),
        }
        for queue, per_state in sorted(counts.items())
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Jobs dashboard"),
        "subtitle": None,
        "opts": model_admin.opts,
        "states": [state_badge(state) for state in State.values],
        "rows": rows,
        "totals": [totals[state] for state in State.values],
        "grand_total": sum(totals.values()),
        "redis_error": redis_error,
        "worker_names": sorted({name for names in workers.values() for name in names}),
        "chart": attempts_chart(series),
        "chart_hours": CHART_HOURS,
        "succeeded_last_day": sum(hour.succeeded for hour in series),
        "failed_last_day": sum(hour.failed for hour in series),
        "succeeded_colour": SUCCEEDED_COLOUR,
        "failed_colour": FAILED_COLOUR,
        "recurring": recurring.statuses(),
        "breakers": breakers,
        "can_change_breakers": model_admin.has_retry_permission(request),
        "timings": _timing_rows(paused),
    }
    return TemplateResponse(request, "admin/jobs_app/dashboard.html", context)


def _timing_rows(paused: dict) -> list[dict]:
    """Every registered handler (and any other with recent attempts), with its last hour's and day's timings."""
    timings = stats.handler_timings()
    names = sorted(set(all_handlers()) | set(timings))
    return [
        {
            "handler": name,
            "windows": [timings[name][window] if name in timings else None for window in stats.TIMING_WINDOWS],
            "paused": paused.get((pauses.HANDLER, name)),
        }
        for name in names
    ]
