"""The system of record: one `Job` row per job, one `JobAttempt` row per attempt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from uuid6 import uuid7

from .states import FAILED_OR_DEAD, RETRYABLE, RUNNABLE, UNFINISHED, Priority, State


class JobQuerySet(models.QuerySet):
    def runnable(self) -> JobQuerySet:
        return self.filter(state__in=RUNNABLE)

    def unfinished(self) -> JobQuerySet:
        return self.filter(state__in=UNFINISHED)

    def retryable(self) -> JobQuerySet:
        return self.filter(state__in=RETRYABLE)

    def failed_or_dead(self) -> JobQuerySet:
        """Failed and dead jobs (`FAILED_OR_DEAD`): the ones an operator looks at."""
        # Every failed or dead job has a failed_at. Saying so lets SQLite use the partial failed-list index:
        # it cannot match the index against the states, which Django sends as bound parameters.
        return self.filter(state__in=FAILED_OR_DEAD, failed_at__isnull=False)

    def failed(self) -> JobQuerySet:
        """`failed_or_dead()`, under its older name (the `failed` state alone is `filter(state="failed")`)."""
        return self.failed_or_dead()

    def with_pks(self, pks: Sequence[Any]) -> JobQuerySet:
        """The jobs with these primary keys (a batch of them), bounded by the smallest and largest key as well.

        The bounds change nothing in what matches, but they make the batch a key range that every planner
        walks: SQLite, with statistics from when the table was smaller, scanned the whole table for an
        `IN` list of 5,000 keys, once per batch (a pass that grew with the square of the jobs).
        """
        if not pks:
            return self.none()
        return self.filter(pk__in=pks, pk__gte=min(pks), pk__lte=max(pks))

    def page_after(self, last_pk: Any, fields: Sequence[str], size: int) -> list[tuple]:
        """Up to `size` rows as tuples (`pk`, then `fields`) in primary-key order after `last_pk` (None: the start).

        A primary-key cursor: walking a large set page by page this way costs an index seek
        per page, whatever the page's position, and holds one page in memory.
        """
        rows = self.order_by("pk")
        if last_pk is not None:
            rows = rows.filter(pk__gt=last_pk)
        return list(rows.values_list("pk", *fields)[:size])


class Job(models.Model):
    State = State
    Priority = Priority

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False, help_text=_("Also the RQ job id."))
    handler = models.CharField(_("handler"), max_length=200)
    queue = models.CharField(_("queue"), max_length=100)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    args = models.JSONField(_("arguments"), default=list, blank=True)
    kwargs = models.JSONField(_("keyword arguments"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.QUEUED)

    attempts = models.PositiveIntegerField(_("attempts"), default=0, help_text=_("Attempts made in this cycle."))
    max_attempts = models.PositiveIntegerField(_("max attempts"), default=3)
    backoff = models.JSONField(_("backoff"), default=dict)
    timeout = models.FloatField(_("timeout (s)"), null=True, blank=True, help_text=_("Empty: the queue's."))
    cycle = models.PositiveIntegerField(_("cycle"), default=1, help_text=_("1, then one more per re-run."))
    auto_retries = models.PositiveIntegerField(_("auto-retries"), default=0, help_text=_("Re-runs by the sweeper."))

    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    scheduled_for = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True)

    error_type = models.CharField(_("error type"), max_length=200, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    traceback = models.TextField(_("traceback"), blank=True)
    result = models.JSONField(_("result"), null=True, blank=True)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    progress_message = models.CharField(_("progress message"), max_length=200, blank=True)

    # NULL, not "", means no key, so the partial unique constraint below never sees it.
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, null=True, blank=True)  # noqa: DJ001
    worker_name = models.CharField(_("worker"), max_length=200, blank=True)
    needs_push = models.BooleanField(
        _("needs push"), default=False, help_text=_("Redis could not be reached when it was enqueued.")
    )
    fingerprint = models.CharField(
        _("failure group"), max_length=16, blank=True, default="", help_text=_("The cause of its last failure.")
    )

    objects = JobQuerySet.as_manager()

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ("-created_at",)
        permissions = [
            ("retry_job", _("Can retry jobs")),
            ("cancel_job", _("Can cancel jobs")),
        ]
        indexes = [
            # Partial, as the two below with `failed_at`: only jobs that failed at least once have entries, so
            # enqueue, the claim and a success never write to them (on PostgreSQL an UPDATE of `state` writes to
            # every index the row is in). Every failed or dead job has a `failed_at`; queries say so
            # (`failed_or_dead`, `groups.jobs_of`) for SQLite, which cannot infer it from the states.
            models.Index(
                fields=["state", "-failed_at"], condition=Q(failed_at__isnull=False), name="jobs_state_failed_at"
            ),
            models.Index(fields=["queue", "state"], name="jobs_queue_state"),
            models.Index(fields=["handler", "state"], name="jobs_handler_state"),
            # The repair's look for overdue scheduled jobs. Partial on the state, as the one below: a job queued,
            # running or succeeded has no entry, so enqueue, the claim and a success never write to it (on
            # PostgreSQL every UPDATE of `state` writes to every index whose condition the new row meets). The
            # queries name the state, which SQLite (with the bound value) and PostgreSQL both match.
            models.Index(fields=["scheduled_for"], condition=Q(state=State.SCHEDULED), name="jobs_scheduled_for"),
            # The sweeper's dead-job alert (and the Prometheus figure) counts the jobs gone dead in the last hour:
            # that hour's entries, not a walk over every dead job.
            models.Index(fields=["finished_at"], condition=Q(state=State.DEAD), name="jobs_dead_finished_at"),
            models.Index(fields=["-created_at"], name="jobs_created_at"),
            # Bulk services and the sweeper walk one state in primary-key batches: a range scan, not a sort per batch.
            models.Index(fields=["state", "id"], name="jobs_state_id"),
            # The failed list, newest failure first: a walk down this small index, not a sort of every failed row
            # (the admin adds the primary key to the ordering).
            models.Index(fields=["-failed_at", "-id"], condition=Q(failed_at__isnull=False), name="jobs_failed_list"),
            # The repair's look for rows whose push is not done: a few rows, found without a walk over the backlog.
            models.Index(fields=["id"], condition=Q(needs_push=True), name="jobs_needs_push"),
            # A failure group's jobs: counted and listed per group without reading any other row.
            models.Index(
                fields=["fingerprint", "state", "-failed_at"],
                condition=Q(failed_at__isnull=False),
                name="jobs_fingerprint_state",
            ),
        ]
        constraints = [
            # At most one unfinished job holds a key: a second enqueue returns the first job.
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False) & Q(state__in=sorted(UNFINISHED)),
                name="jobs_unique_unfinished_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.handler}:{self.pk}"

    @property
    def label(self) -> str:
        """`handler:id`, as the log lines say it."""
        return str(self)


class JobAttempt(models.Model):
    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        KILLED = "killed", _("Killed (its worker died)")
        TIMED_OUT = "timed_out", _("Timed out")

    # The outcomes of an attempt that ended in error: raised, its worker died, or its time ran out.
    FAILURES = frozenset({Outcome.FAILED, Outcome.KILLED, Outcome.TIMED_OUT})

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="history", verbose_name=_("job"))
    cycle = models.PositiveIntegerField(_("cycle"))
    number = models.PositiveIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"))
    duration = models.DurationField(_("duration"))
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    error_type = models.CharField(_("error type"), max_length=200, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    traceback = models.TextField(_("traceback"), blank=True)
    worker_name = models.CharField(_("worker"), max_length=200, blank=True)
    fingerprint = models.CharField(_("failure group"), max_length=16, blank=True, default="")

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        ordering = ("job", "cycle", "number")
        indexes = [models.Index(fields=["finished_at", "outcome"], name="jobs_attempt_finished")]

    def __str__(self) -> str:
        return f"{self.job_id} cycle {self.cycle} attempt {self.number}: {self.outcome}"


class FailedJob(Job):
    """Failed and dead jobs only: the admin's "Failed jobs" list, like Sidekiq's Retries and Dead tabs."""

    class Meta:
        proxy = True
        verbose_name = _("failed job")
        verbose_name_plural = _("failed jobs")


class FailureGroup(models.Model):
    """One cause of failures (see `fingerprint.py`), kept up to date by `groups.note_failure`.

    `jobs` (the group's jobs now failed or dead) is not stored: it is counted through the
    `jobs_fingerprint_state` index when shown, so re-runs, deletions and the dead letter never leave it stale.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")
        MUTED = "muted", _("Muted")

    fingerprint = models.CharField(_("fingerprint"), max_length=16, primary_key=True)
    handler = models.CharField(_("handler"), max_length=200)
    error_type = models.CharField(_("error type"), max_length=300, help_text=_("The exception's dotted class path."))
    message = models.TextField(_("message"), blank=True, help_text=_("The message, its variable parts masked."))
    frame = models.CharField(
        _("where"), max_length=300, blank=True, help_text=_("The innermost function of the project's own code.")
    )
    first_seen = models.DateTimeField(_("first seen"))
    last_seen = models.DateTimeField(_("last seen"))
    occurrences = models.PositiveBigIntegerField(_("occurrences"), default=0, help_text=_("Failed attempts."))
    hourly = models.JSONField(
        _("occurrences per hour"), default=dict, help_text=_("Hours since the epoch to attempts, the last 48 hours.")
    )
    sample_job_id = models.UUIDField(_("sample job"), null=True, blank=True)
    sample_message = models.TextField(_("sample message"), blank=True)
    sample_traceback = models.TextField(_("sample traceback"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    regressed = models.BooleanField(_("regressed"), default=False, help_text=_("Failed again after it was resolved."))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("failure group")
        verbose_name_plural = _("failure groups")
        ordering = ("-last_seen",)
        permissions = [("dead_letter_job", _("Can move failed jobs to dead"))]
        # No index holds `last_seen`, `occurrences` or `hourly`, which every failure changes: PostgreSQL then
        # updates the group's row in place (a HOT update, no index entry written). The lists sort by `last_seen`
        # in memory: one row per cause, a thousand rows at most in practice (docs/failure-groups.md).
        indexes = [
            models.Index(fields=["status"], name="jobs_group_by_status"),
            models.Index(fields=["handler"], name="jobs_group_by_handler"),
        ]

    def __str__(self) -> str:
        return f"{self.fingerprint} {self.error_type}: {self.message}"[:200]


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token itself is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs_api_tokens", verbose_name=_("user")
    )
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("prefix"), max_length=8, help_text=_("The token's first characters, to tell it apart."))
    name = models.CharField(_("name"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or self.user})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def column(model: type[models.Model], name: str) -> models.Field:
    """The concrete field (a column, not a relation's other side) `name` of `model`: for raw SQL's values."""
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field
