"""The API's views: each validates its input, calls the stats or the service layer once, and answers JSON."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from .. import breaker, pauses, prometheus, services, stats
from .. import health as health_checks
from ..exceptions import NothingToPause
from ..models import Job
from ..registry import all_handlers
from ..states import FAILED_OR_DEAD, RETRYABLE, State
from . import params
from .endpoint import endpoint
from .errors import ApiError
from .openapi import openapi_document
from .serializers import breaker_state, handler_timing, iso, job_detail, job_summary

RETRY_PERMISSION = "jobs_app.retry_job"
FAILED_STATES = FAILED_OR_DEAD
FAILURE_WINDOW = timedelta(hours=24)


def _failed_jobs(queue: str, handler: str, state: str):
    jobs = Job.objects.filter(state=state, failed_at__isnull=False)  # every failed or dead job has one: the index's
    if queue:
        jobs = jobs.filter(queue=queue)
    if handler:
        jobs = jobs.filter(handler=handler)
    return jobs


@endpoint("GET")
def failed(request: HttpRequest) -> JsonResponse:
    limit, offset = params.page(request)
    queue = params.text(request.GET.get("queue"), "queue")
    handler = params.text(request.GET.get("handler"), "handler")
    state = params.choice(request.GET.get("state"), "state", FAILED_STATES, default=State.FAILED)
    jobs = _failed_jobs(queue, handler, state)
    page = jobs.order_by(F("failed_at").desc(nulls_last=True), "-created_at", "-pk")[offset : offset + limit]
    return JsonResponse(
        {
            "count": jobs.count(),
            "limit": limit,
            "offset": offset,
            "state": state,
            "results": [job_summary(job) for job in page],
        }
    )


@endpoint("GET")
def job(request: HttpRequest, job_id: str) -> JsonResponse:
    found = Job.objects.filter(pk=params.job_id(job_id)).prefetch_related("history").first()
    if found is None:
        raise ApiError(404, f"Job '{job_id}' not found")
    return JsonResponse(job_detail(found))


@endpoint("POST", permission=RETRY_PERMISSION)
def retry(request: HttpRequest, job_id: str) -> JsonResponse:
    found = Job.objects.filter(pk=params.job_id(job_id)).first()
    if found is None:
        raise ApiError(404, f"Job '{job_id}' not found")
    if found.state not in RETRYABLE:
        raise ApiError(
            400, f"Job {found.pk} cannot be retried: it is not failed, dead or cancelled. Current state: {found.state}"
        )
    if not services.rerun(found).retried:
        raise ApiError(409, f"Job {found.pk} is being re-run by another request. Current state: {found.state}")
    return JsonResponse({"message": f"Job '{found.pk}' has been queued for retry", "job_id": str(found.pk)}, status=202)


@endpoint("POST", permission=RETRY_PERMISSION)
def retry_all_failed(request: HttpRequest) -> JsonResponse:
    body = params.json_object(request, allowed=("queue", "handler", "state"))
    queue = params.text(body.get("queue"), "queue")
    handler = params.text(body.get("handler"), "handler")
    state = params.choice(body.get("state"), "state", FAILED_STATES, default=State.FAILED)
    result = services.rerun(_failed_jobs(queue, handler, state))
    return JsonResponse(
        {
            "message": "Retry operation complete",
            "retried": result.retried,
            "skipped": result.skipped,
            "total": result.total,
        }
    )


@endpoint("GET")
def metrics(request: HttpRequest) -> JsonResponse:
    now = timezone.now()
    counts = stats.state_counts()
    workers = stats.workers_by_queue()
    since = now - FAILURE_WINDOW
    return JsonResponse(
        {
            "generated_at": iso(now),
            "states": stats.total_state_counts(counts),
            "queues": counts,
            "failures_last_24h": {"since": iso(since), "by_handler": stats.failures_by_handler(since)},
            "rq_queue_lengths": stats.rq_queue_lengths(),
            "workers": workers,
            "workers_alive": len({name for names in workers.values() for name in names}),
            "breakers": {state.name: breaker_state(state) for state in breaker.states()},
            "handlers": {
                handler: {window: handler_timing(timing) for window, timing in windows.items()}
                for handler, windows in stats.handler_timings(now=now).items()
            },
            "paused": [pause.as_dict() for pause in pauses.paused()],
        }
    )


@endpoint("GET", public_setting="METRICS_PUBLIC")
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    try:
        body, content_type = prometheus.exposition()
    except prometheus.PrometheusClientMissing as error:
        raise ApiError(501, str(error)) from None
    return HttpResponse(body, content_type=content_type)


def _set_pause(request: HttpRequest, kind: str, name: str, *, paused: bool) -> JsonResponse:
    by = request.user.get_username()
    try:
        change = pauses.pause if paused else pauses.resume
        changed = change(kind, name, handlers=all_handlers(), by=by)
    except NothingToPause as error:
        raise ApiError(404, str(error)) from None
    current = next((pause for pause in pauses.paused() if (pause.kind, pause.name) == (kind, name)), None)
    return JsonResponse(
        {
            "kind": kind,
            "name": name,
            "paused": current is not None,
            "changed": changed,
            "since": iso(current.since) if current else None,
            "by": current.by if current else None,
        }
    )


def _pause_endpoint(kind: str, *, paused: bool):
    @endpoint("POST", permission=RETRY_PERMISSION)
    def view(request: HttpRequest, name: str) -> JsonResponse:
        return _set_pause(request, kind, name, paused=paused)

    return view


pause_queue = _pause_endpoint(pauses.QUEUE, paused=True)
resume_queue = _pause_endpoint(pauses.QUEUE, paused=False)
pause_handler = _pause_endpoint(pauses.HANDLER, paused=True)
resume_handler = _pause_endpoint(pauses.HANDLER, paused=False)


@endpoint("GET")
def queue_stats(request: HttpRequest, name: str) -> JsonResponse:
    if name not in stats.logical_queues():
        raise ApiError(404, f"Queue '{name}' not found")
    return JsonResponse(stats.queue_stats(name))


@endpoint("GET", public_setting="HEALTH_PUBLIC")
def health(request: HttpRequest) -> JsonResponse:
    reasons = health_checks.problems()
    checked_at = iso(timezone.now())
    paused = health_checks.paused()
    if reasons:
        return JsonResponse(
            {
                "status": "unhealthy",
                "error": "; ".join(reasons),
                "reasons": reasons,
                "checked_at": checked_at,
                "paused": paused,
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "reasons": [], "checked_at": checked_at, "paused": paused})


@endpoint("GET", permission=None)  # the document describes the API and holds no job data
def openapi(request: HttpRequest) -> JsonResponse:
    base_path = request.path.removesuffix("openapi.json").rstrip("/")
    return JsonResponse(openapi_document(base_path))


def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Any other URL under the API's prefix: a JSON 404, never Django's HTML page."""
    return JsonResponse({"error": f"No API endpoint at {request.path}"}, status=404)
