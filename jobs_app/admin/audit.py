"""Manual retries and cancellations in Django's admin log, so a job's History page says who and when."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet

from ..models import Job

LOG_BATCH = 1000


def targets(queryset: QuerySet[Job]) -> list[tuple[str, str]]:
    """(id, label) of the jobs an action is about to change: two columns, not whole rows."""
    return [(str(pk), f"{handler}:{pk}") for pk, handler in queryset.order_by().values_list("pk", "handler")]


def log(
    user_id: int | None,
    jobs: Iterable[tuple[str, str]],
    message: str,
    *,
    model: type[Model] = Job,
    flag: int = CHANGE,
) -> None:
    """One `LogEntry` per object (a job, unless `model` says otherwise), written with bulk INSERTs.

    `user_id` is `request.user.pk`; an anonymous user (None) never reaches the admin, and is not logged.
    """
    if user_id is None:
        return
    content_type = ContentType.objects.get_for_model(model)
    LogEntry.objects.bulk_create(
        (
            LogEntry(
                user_id=user_id,
                content_type=content_type,
                object_id=pk,
                object_repr=label[:200],
                action_flag=flag,
                change_message=message,
            )
            for pk, label in jobs
        ),
        batch_size=LOG_BATCH,
    )


def log_event(user_id: int | None, subject: str, message: str) -> None:
    """One `LogEntry` about something that is not one job (a queue or handler paused, say), under `Job`.

    As `log`: an anonymous user (None) never reaches the admin, and is not logged.
    """
    if user_id is None:
        return
    LogEntry.objects.create(
        user_id=user_id,
        content_type=ContentType.objects.get_for_model(Job),
        object_id=None,
        object_repr=subject[:200],
        action_flag=CHANGE,
        change_message=message,
    )
