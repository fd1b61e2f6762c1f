"""The API's failure groups: list, one group, and the actions (retry at a rate, resolve, mute, unmute, dead)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from .. import group_actions
from ..groups import job_counts, jobs_of
from ..models import FailureGroup
from . import params
from .endpoint import endpoint
from .errors import ApiError
from .serializers import iso

MAX_LIMIT = 500
MAX_OFFSET = 1_000_000_000
JOB_IDS = 100
RETRY_PERMISSION = "jobs_app.retry_job"
TRIAGE_PERMISSION = "jobs_app.change_failuregroup"
DEAD_PERMISSION = "jobs_app.dead_letter_job"


def group_summary(group: FailureGroup, jobs: int) -> dict[str, Any]:
    return {
        "fingerprint": group.fingerprint,
        "handler": group.handler,
        "error_type": group.error_type,
        "message": group.message,
        "frame": group.frame,
        "first_seen": iso(group.first_seen),
        "last_seen": iso(group.last_seen),
        "occurrences": group.occurrences,
        "jobs": jobs,
        "status": group.status,
        "regressed": group.regressed,
        "sample_job_id": str(group.sample_job_id) if group.sample_job_id else None,
    }


def group_detail(group: FailureGroup) -> dict[str, Any]:
    jobs = jobs_of([group.pk])
    return {
        **group_summary(group, jobs.count()),
        "resolved_at": iso(group.resolved_at),
        "sample_message": group.sample_message,
        "sample_traceback": group.sample_traceback,
        "hourly": {str(hour): count for hour, count in sorted(group.hourly.items())},
        "job_ids": [str(pk) for pk in jobs.order_by("-failed_at", "-pk").values_list("pk", flat=True)[:JOB_IDS]],
    }


def _group(fingerprint: str) -> FailureGroup:
    group = FailureGroup.objects.filter(pk=fingerprint).first() if len(fingerprint) <= 16 else None
    if group is None:
        raise ApiError(404, f"Failure group '{fingerprint}' not found")
    return group


@endpoint("GET")
def failure_groups(request: HttpRequest) -> JsonResponse:
    limit = params.integer(request, "limit", default=50, minimum=1, maximum=MAX_LIMIT)
    offset = params.integer(request, "offset", default=0, minimum=0, maximum=MAX_OFFSET)
    handler = params.text(request.GET.get("handler"), "handler")
    status = params.choice(request.GET.get("status"), "status", FailureGroup.Status.values, default="")
    groups = FailureGroup.objects.all()
    if status:
        groups = groups.filter(status=status)
    if handler:
        groups = groups.filter(handler=handler)
    page = list(groups.order_by("-last_seen", "pk")[offset : offset + limit])
    counts = job_counts(group.pk for group in page)
    return JsonResponse(
        {
            "count": groups.count(),
            "limit": limit,
            "offset": offset,
            "results": [group_summary(group, counts[group.pk]) for group in page],
        }
    )


@endpoint("GET")
def failure_group(request: HttpRequest, fingerprint: str) -> JsonResponse:
    return JsonResponse(group_detail(_group(fingerprint)))


@endpoint("POST", permission=RETRY_PERMISSION)
def retry_group(request: HttpRequest, fingerprint: str) -> JsonResponse:
    body = params.json_object(request, allowed=("rate",))
    group = _group(fingerprint)
    rate = body.get("rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)):
        raise ApiError(400, "'rate' must be a number of jobs a second above 0")
    try:
        rate = group_actions.retry_rate(rate)
    except ValueError as error:
        raise ApiError(400, f"'rate': {error}") from None
    result = group_actions.retry([group.pk], rate=rate)
    if not result.retried:
        raise ApiError(400, f"Failure group '{group.pk}' has no failed or dead jobs to retry")
    return JsonResponse(
        {"retried": result.retried, "rate": result.rate, "last_run_at": iso(result.last_run_at)}, status=202
    )


def _status_view(status: str):
    @endpoint("POST", permission=TRIAGE_PERMISSION)
    def set_status(request: HttpRequest, fingerprint: str) -> JsonResponse:
        params.json_object(request, allowed=())
        group = _group(fingerprint)
        group_actions.set_status([group.pk], status)
        group.refresh_from_db()
        return JsonResponse(group_detail(group))

    return set_status


resolve_group = _status_view(FailureGroup.Status.RESOLVED)
mute_group = _status_view(FailureGroup.Status.MUTED)
unmute_group = _status_view(FailureGroup.Status.OPEN)


@endpoint("POST", permission=DEAD_PERMISSION)
def group_to_dead(request: HttpRequest, fingerprint: str) -> JsonResponse:
    params.json_object(request, allowed=())
    group = _group(fingerprint)
    group_actions.move_groups_to_dead([group.pk])
    return JsonResponse(group_detail(group))
