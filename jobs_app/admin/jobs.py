"""The job list, the failed-jobs list and a job's page, with bulk retry and cancel."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, DELETION
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy
from django.views.decorators.http import require_POST

from .. import group_actions, services
from ..models import FailedJob, Job, JobAttempt, JobQuerySet
from ..states import RETRYABLE, TERMINAL, State
from . import audit, display
from .breakers import breaker_view
from .dashboard import dashboard_view
from .filters import ErrorTypeFilter, FailedStateFilter, FailureGroupFilter, HandlerFilter, QueueFilter
from .groups import confirmation
from .pagination import LargeTablePaginator
from .pauses import pause_view
from .queries import FailedJobQuerySet
from .records import ReadOnlyRecordsAdmin

RETRY_MESSAGE = "Retried by hand from the admin."
DEAD_MESSAGE = "Moved to dead by hand from the admin."
DELETE_MESSAGE = "Deleted by hand from the admin."
CANCEL_MESSAGE = "Cancelled by hand from the admin."


@dataclass(frozen=True, kw_only=True)
class BulkAction:
    """What differs between the bulk retry and the bulk cancel: the service, the audit line, the words."""

    service: Callable[[JobQuerySet], services.BulkResult]
    audit_message: str
    question: Promise  # "You are about to <question> N jobs"
    done: Promise  # plural-aware, keyed by "count"
    eligible: Promise  # why the others were skipped
    locker: Promise  # who held the locked ones


SKIPPED_NOT_ELIGIBLE = ngettext_lazy(
    "Skipped %(not_eligible)d job: %(eligible)s", "Skipped %(not_eligible)d jobs: %(eligible)s", "not_eligible"
)
SKIPPED_LOCKED = ngettext_lazy(
    "Skipped %(locked)d job that %(locker)s.", "Skipped %(locked)d jobs that %(locker)s.", "locked"
)
RETRY = BulkAction(
    service=services.rerun,
    audit_message=RETRY_MESSAGE,
    question=_("retry"),
    done=ngettext_lazy("Retried %(count)d job.", "Retried %(count)d jobs.", "count"),
    eligible=_("only failed, dead or cancelled jobs can be retried."),
    locker=_("another retry was changing"),
)
CANCEL = BulkAction(
    service=services.cancel,
    audit_message=CANCEL_MESSAGE,
    question=_("cancel"),
    done=ngettext_lazy("Cancelled %(count)d job.", "Cancelled %(count)d jobs.", "count"),
    eligible=_("only scheduled or queued jobs can be cancelled."),
    locker=_("a worker was taking"),
)


class JobAttemptInline(admin.TabularInline):
    """Every attempt of every cycle, oldest first."""

    model = JobAttempt
    extra = 0
    can_delete = False
    ordering = ("cycle", "number")
    fields = ("cycle", "number", "outcome", "started_at", "finished_at", "duration", "worker_name", "error")
    readonly_fields = fields
    verbose_name_plural = _("attempt history")

    @admin.display(description=_("error"))
    def error(self, attempt: JobAttempt):
        return display.error_details(attempt.error_type, attempt.error_message, attempt.traceback)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # Whoever may see the job may see its attempts.
        return self.admin_site._registry[self.parent_model].has_view_permission(request, obj)


@admin.register(Job)
class JobAdmin(ReadOnlyRecordsAdmin):
    list_display = (
        "short_id",
        "handler",
        "queue",
        "state_badge",
        "attempts_display",
        "auto_retries",
        "last_error",
        "failed_at",
        "created_at",
    )
    list_display_links = ("short_id",)
    list_filter: ClassVar[tuple[Any, ...]] = (
        "state",
        QueueFilter,
        HandlerFilter,
        ErrorTypeFilter,
        ("failed_at", admin.DateFieldListFilter),
    )
    search_fields = ("handler", "error_message")
    search_help_text = _("A job id (or its first 8 characters), a handler name, or words of the error message.")
    actions: Sequence[str] | None = ("retry_selected", "cancel_selected")
    inlines = (JobAttemptInline,)
    list_per_page = 50
    show_full_result_count = False
    # "Show counts" would run a COUNT per filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    paginator = LargeTablePaginator
    change_list_template = "admin/jobs_app/change_list.html"
    change_form_template = "admin/jobs_app/change_form.html"
    fieldsets = (
        (None, {"fields": ("id", "handler", "queue", "priority", "state_badge", "progress_display")}),
        (_("Attempts"), {"fields": ("attempts_display", "cycle", "auto_retries", "backoff_json", "timeout")}),
        (_("Arguments"), {"fields": ("args_json", "kwargs_json", "idempotency_key")}),
        (_("Result"), {"fields": ("result_json",)}),
        (_("Last error"), {"fields": ("error_type", "error_message", "traceback_display")}),
        (
            _("Times"),
            {"fields": ("created_at", "scheduled_for", "started_at", "finished_at", "failed_at", "worker_name")},
        ),
        (_("Delivery"), {"fields": ("needs_push",), "classes": ("collapse",)}),
    )
    readonly_fields = flatten_fieldsets(fieldsets)

    # Columns and fields

    @admin.display(description=_("id"), ordering="id")
    def short_id(self, job: Job) -> str:
        return display.short_id(job.pk)

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, job: Job):
        return display.state_badge(job.state)

    @admin.display(description=_("attempts"), ordering="attempts")
    def attempts_display(self, job: Job) -> str:
        return display.attempts(job.attempts, job.max_attempts)

    @admin.display(description=_("last error"))
    def last_error(self, job: Job):
        return display.error_preview(job.error_type, job.error_message)

    @admin.display(description=_("progress"))
    def progress_display(self, job: Job):
        return display.progress_bar(job.progress, job.progress_message)

    @admin.display(description=_("arguments"))
    def args_json(self, job: Job):
        return display.json_block(job.args)

    @admin.display(description=_("keyword arguments"))
    def kwargs_json(self, job: Job):
        return display.json_block(job.kwargs)

    @admin.display(description=_("result"))
    def result_json(self, job: Job):
        return display.json_block(job.result)

    @admin.display(description=_("backoff"))
    def backoff_json(self, job: Job):
        return display.json_block(job.backoff)

    @admin.display(description=_("traceback"))
    def traceback_display(self, job: Job):
        return display.preformatted(job.traceback)

    # Read-only records (see ReadOnlyRecordsAdmin): jobs change through the engine's services only.

    def has_cancel_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("jobs_app.cancel_job")

    # Search: an id or its first characters, besides the handler and the error message.

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().lower()
        try:
            results |= queryset.filter(pk=uuid.UUID(term))
        except ValueError:
            if 4 <= len(term) <= 8 and all(char in "0123456789abcdef" for char in term):
                results |= queryset.filter(pk__startswith=term)
        return results, may_have_duplicates

    # Bulk actions: confirm a selection across pages, call one service, log and report what it changed.

    @admin.action(description=_("Retry selected jobs"), permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: JobQuerySet) -> TemplateResponse | None:
        return self._bulk_action(request, queryset, RETRY)

    @admin.action(description=_("Cancel selected jobs"), permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: JobQuerySet) -> TemplateResponse | None:
        return self._bulk_action(request, queryset, CANCEL)

    def _bulk_action(self, request: HttpRequest, queryset: JobQuerySet, action: BulkAction) -> TemplateResponse | None:
        if request.POST.get("select_across") == "1" and request.POST.get("post") != "yes":
            return self._confirm_across_pages(request, queryset, action)
        result = action.service(queryset)
        if result.changed:
            audit.log(request.user.pk, [(ref.id, ref.label) for ref in result.changed], action.audit_message)
        values = {
            "count": len(result.changed),
            "not_eligible": result.not_eligible,
            "locked": result.locked,
            "eligible": action.eligible,
            "locker": action.locker,
        }
        parts = [action.done % values]
        if result.not_eligible:
            parts.append(SKIPPED_NOT_ELIGIBLE % values)
        if result.locked:
            parts.append(SKIPPED_LOCKED % values)
        self.message_user(request, " ".join(parts), messages.SUCCESS if result.changed else messages.WARNING)
        return None

    def _confirm_across_pages(
        self, request: HttpRequest, queryset: JobQuerySet, action: BulkAction
    ) -> TemplateResponse:
        """Every job the filters match, on every page: ask first, as `delete_selected` does."""
        context = {
            **self.admin_site.each_context(request),
            "title": _("Are you sure?"),
            "opts": self.opts,
            "action_name": request.POST["action"],
            "action_description": action.question,
            "count": queryset.count(),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "preserved_filters": self.get_preserved_filters(request),
        }
        return TemplateResponse(request, "admin/jobs_app/confirm_action.html", context)

    # Extra pages: the dashboard, its breaker and pause buttons and a job's "Retry now" button.

    def get_urls(self):
        wrap = self.admin_site.admin_view
        app, model = self.opts.app_label, self.opts.model_name
        return [
            path("dashboard/", wrap(self.dashboard_view), name=f"{app}_{model}_dashboard"),
            path(
                "breakers/<str:name>/<str:action>/",
                wrap(require_POST(self.breaker_view)),
                name=f"{app}_{model}_breaker",
            ),
            path(
                "pauses/<str:kind>/<str:name>/<str:action>/",
                wrap(require_POST(self.pause_view)),
                name=f"{app}_{model}_pause",
            ),
            path("<path:object_id>/retry/", wrap(require_POST(self.retry_view)), name=f"{app}_{model}_retry"),
            *super().get_urls(),
        ]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        return dashboard_view(self, request)

    def breaker_view(self, request: HttpRequest, name: str, action: str) -> HttpResponse:
        return breaker_view(self, request, name, action)

    def pause_view(self, request: HttpRequest, kind: str, name: str, action: str) -> HttpResponse:
        return pause_view(self, request, kind, name, action)

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only (CSRF-checked by `admin_view`): re-run one job, then back to its page."""
        job = self.get_object(request, unquote(object_id))
        if job is None:
            # Django's own "no such object" message and redirect: private, so django-stubs leave it out.
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        if not (self.has_view_permission(request, job) and self.has_retry_permission(request, job)):
            raise PermissionDenied
        result = services.rerun(job)
        if result.retried:
            audit.log(request.user.pk, [(ref.id, ref.label) for ref in result.changed], RETRY_MESSAGE)
            self.message_user(request, _("Retried %(job)s: it is queued again.") % {"job": job.label})
        else:
            self.message_user(
                request,
                _("%(job)s was not retried: it is %(state)s.") % {"job": job.label, "state": job.get_state_display()},
                messages.WARNING,
            )
        # The job page, not the failed-list page: a retried job has left the failed list.
        return redirect("admin:jobs_app_job_change", job.pk)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(
            can_retry=obj is not None and obj.state in RETRYABLE and self.has_retry_permission(request, obj),
            retry_url=reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_retry", args=[obj.pk])
            if obj is not None
            else "",
        )
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(FailedJob)
class FailedJobAdmin(JobAdmin):
    """Failed and dead jobs, newest failure first: like Sidekiq's Retries and Dead tabs."""

    list_filter = (
        FailedStateFilter,
        QueueFilter,
        HandlerFilter,
        ErrorTypeFilter,
        FailureGroupFilter,
        ("failed_at", admin.DateFieldListFilter),
    )
    actions = ("retry_selected", "move_to_dead_selected", "delete_terminal_selected")
    ordering = ("-failed_at",)
    # Here and not on the job list: its MIN/MAX/DISTINCT queries read only failed rows, through the state index.
    date_hierarchy = "failed_at"

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns: list[Any] = list(super().get_list_display(request))
        columns.insert(columns.index("last_error") + 1, "failure_group")
        return columns

    def get_queryset(self, request: HttpRequest) -> FailedJobQuerySet:
        # Read through the (state, -failed_at) index, with the date hierarchy's fast MIN/MAX and dates.
        failed = cast(JobQuerySet, super().get_queryset(request)).failed_or_dead()
        return FailedJobQuerySet(model=failed.model, query=failed.query, using=failed.db)

    @admin.display(description=_("failure group"), ordering="fingerprint")
    def failure_group(self, job: Job):
        if not job.fingerprint:
            return "-"
        url = reverse("admin:jobs_app_failuregroup_change", args=[job.fingerprint])
        return format_html('<a href="{}" class="jobs-failure-group">{}</a>', url, job.fingerprint)

    def has_purge_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("jobs_app.delete_job")

    @admin.action(description=_("Move selected jobs to dead now"), permissions=["dead_letter"])
    def move_to_dead_selected(self, request: HttpRequest, queryset: JobQuerySet):
        return self._act_after_confirming(
            request,
            queryset,
            queryset.filter(state=State.FAILED),
            title=_("Move jobs to dead"),
            question=lambda count: ngettext(
                "Move %(count)d failed job to dead now? The sweeper will not retry it any more.",
                "Move %(count)d failed jobs to dead now? The sweeper will not retry them any more.",
                count,
            ),
            act=group_actions.move_to_dead,
            done=lambda count: ngettext("Moved %(count)d job to dead.", "Moved %(count)d jobs to dead.", count),
            log_message=DEAD_MESSAGE,
        )

    @admin.action(description=_("Delete selected jobs (dead ones only)"), permissions=["purge"])
    def delete_terminal_selected(self, request: HttpRequest, queryset: JobQuerySet):
        return self._act_after_confirming(
            request,
            queryset,
            queryset.filter(state__in=TERMINAL),
            title=_("Delete jobs"),
            question=lambda count: ngettext(
                "Delete %(count)d dead job and its attempts? Failed jobs that may still be retried are kept.",
                "Delete %(count)d dead jobs and their attempts? Failed jobs that may still be retried are kept.",
                count,
            ),
            act=group_actions.delete_terminal,
            done=lambda count: ngettext("Deleted %(count)d job.", "Deleted %(count)d jobs.", count),
            # A deleted job's entries stay in the admin log, which is where an audit belongs.
            log_message=DELETE_MESSAGE,
            flag=DELETION,
        )

    def _act_after_confirming(
        self,
        request: HttpRequest,
        queryset: JobQuerySet,
        jobs: JobQuerySet,
        *,
        title: str | Promise,
        question: Callable[[int], str],
        act: Callable[[JobQuerySet], int],
        done: Callable[[int], str],
        log_message: str,
        flag: int = CHANGE,
    ) -> HttpResponse | None:
        """A confirmation page saying how many of `jobs` the action touches; on its POST, `act`, log, report."""
        if request.POST.get("post") != "yes":
            count = jobs.count()
            return confirmation(self, request, queryset, title=title, question=question(count) % {"count": count})
        targets = audit.targets(jobs)
        changed = act(jobs)
        if changed:
            audit.log(request.user.pk, targets, log_message, flag=flag)
        self.message_user(
            request, done(changed) % {"count": changed}, messages.SUCCESS if changed else messages.WARNING
        )
        return None

    def get_urls(self):
        app, model = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/history/",
                self.admin_site.admin_view(self.history_redirect),
                name=f"{app}_{model}_history",
            ),
            *super().get_urls(),
        ]

    def history_redirect(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        """The admin log records retries under `Job`, so a failed job's history is its job's history."""
        return redirect("admin:jobs_app_job_history", unquote(object_id))
