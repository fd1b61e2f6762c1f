"""The "Failure groups" list: one line per cause, with the actions that fix a cause in one go."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from .. import group_actions
from ..conf import app_settings
from ..groups import SPARK_HOURS, job_counts, jobs_of, sparkline_counts
from ..models import FailureGroup
from . import audit, display
from .chart import sparkline
from .filters import HandlerFilter
from .records import ReadOnlyRecordsAdmin

STATUS_COLOURS: dict[str, str] = {
    FailureGroup.Status.OPEN: "#b00020",
    FailureGroup.Status.RESOLVED: "#2e7d32",
    FailureGroup.Status.MUTED: "#6c757d",
}
CONFIRMATION_TEMPLATE = "admin/jobs_app/confirm_count.html"
GROUP_ACTION = "jobs_app_failuregroup_action"
PAGE_ACTIONS = ("retry_groups", "move_groups_to_dead", "resolve_groups", "mute_groups", "unmute_groups")


def log_groups(request: HttpRequest, groups: QuerySet[FailureGroup], message: str) -> None:
    """One admin log entry per group acted on: its History page says who did what and when."""
    audit.log(request.user.pk, [(group.pk, str(group)) for group in groups], message, model=FailureGroup)


def confirmation(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    title: str | Promise,
    question: str,
    **extra: Any,
) -> TemplateResponse:
    """The page an action shows before it acts: what it will do to how many, and a button that posts it again."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": model_admin.opts,
        "question": question,
        "action": request.POST.get("action", ""),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        **extra,
    }
    return TemplateResponse(request, CONFIRMATION_TEMPLATE, context)


class GroupChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        """The page's groups, then their failed and dead jobs counted in one indexed query."""
        super().get_results(request)
        counts = job_counts(group.pk for group in self.result_list)
        for group in self.result_list:
            group.job_count = counts[group.pk]


@admin.register(FailureGroup)
class FailureGroupAdmin(ReadOnlyRecordsAdmin):
    list_display = (
        "short_fingerprint",
        "status_badge",
        "handler",
        "cause",
        "occurrences",
        "jobs_link",
        "sparkline_display",
        "first_seen",
        "last_seen",
    )
    list_display_links = ("short_fingerprint",)
    list_filter = ("status", HandlerFilter, "regressed")
    search_fields = ("=fingerprint", "handler", "error_type", "message")
    search_help_text = gettext_lazy("A fingerprint, a handler, an exception class or words of the message.")
    ordering = ("-last_seen",)
    actions = ("retry_groups", "move_groups_to_dead", "resolve_groups", "mute_groups", "unmute_groups")
    list_per_page = 50
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = (
        "fingerprint",
        "status_badge",
        "resolved_at",
        "handler",
        "error_type",
        "message",
        "frame",
        "first_seen",
        "last_seen",
        "occurrences",
        "jobs_link",
        "sparkline_display",
        "sample_link",
        "sample_message",
        "sample_traceback_display",
    )
    readonly_fields = fields

    change_list_template = "admin/jobs_app/change_list.html"
    change_form_template = "admin/jobs_app/failuregroup/change_form.html"

    def get_changelist(self, request, **kwargs):
        return GroupChangeList

    # A group's page has the actions as buttons: each posts to a URL of its own and comes back.

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/act/<str:action>/", wrap(require_POST(self.group_action_view)), name=GROUP_ACTION),
            *super().get_urls(),
        ]

    def group_action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """POST only (CSRF-checked by `admin_view`): one of the list's actions, on this one group."""
        if action not in PAGE_ACTIONS:
            raise Http404(f"No action {action!r}")
        group = self.get_object(request, unquote(object_id))
        if group is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        method = getattr(self, action)
        if not all(getattr(self, f"has_{name}_permission")(request) for name in method.allowed_permissions):
            raise PermissionDenied
        response = method(request, FailureGroup.objects.filter(pk=group.pk))
        return response or redirect("admin:jobs_app_failuregroup_change", group.pk)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["group_actions"] = [
                (reverse(f"admin:{GROUP_ACTION}", args=[obj.pk, name]), getattr(self, name).short_description)
                for name in PAGE_ACTIONS
                if all(
                    getattr(self, f"has_{perm}_permission")(request) for perm in getattr(self, name).allowed_permissions
                )
            ]
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Columns and fields

    @admin.display(description=gettext_lazy("fingerprint"), ordering="fingerprint")
    def short_fingerprint(self, group: FailureGroup) -> str:
        return group.fingerprint

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_badge(self, group: FailureGroup) -> SafeString:
        badge = format_html(
            '<span class="jobs-group-status jobs-group-{}" style="background:{};color:#fff;padding:1px 7px;'
            'border-radius:9px;font-size:11px;font-weight:600">{}</span>',
            group.status,
            STATUS_COLOURS.get(group.status, "#6c757d"),
            group.get_status_display(),
        )
        if group.regressed:
            badge = format_html('{} <strong class="jobs-regressed">{}</strong>', badge, _("regressed"))
        return badge

    @admin.display(description=gettext_lazy("cause"))
    def cause(self, group: FailureGroup):
        preview = display.error_preview(group.error_type, group.message)
        if not group.frame:
            return preview
        return format_html('{}<br><small style="opacity:.7">{} {}</small>', preview, _("in"), group.frame)

    @admin.display(description=gettext_lazy("failed jobs"))
    def jobs_link(self, group: FailureGroup) -> SafeString:
        count = getattr(group, "job_count", None)
        if count is None:
            count = jobs_of([group.pk]).count()
        url = reverse("admin:jobs_app_failedjob_changelist") + f"?fingerprint={group.pk}"
        return format_html('<a href="{}" class="jobs-group-jobs">{}</a>', url, count)

    @admin.display(description=gettext_lazy("last 48 hours"))
    def sparkline_display(self, group: FailureGroup) -> SafeString:
        counts = sparkline_counts(group, now=timezone.now())
        label = _("%(count)d failed attempts in the last %(hours)d hours, per hour") % {
            "count": sum(counts),
            "hours": SPARK_HOURS,
        }
        return sparkline(counts, label=label)

    @admin.display(description=gettext_lazy("sample job"))
    def sample_link(self, group: FailureGroup):
        if group.sample_job_id is None:
            return "-"
        url = reverse("admin:jobs_app_job_change", args=[group.sample_job_id])
        return format_html('<a href="{}">{}</a>', url, group.sample_job_id)

    @admin.display(description=gettext_lazy("sample traceback"))
    def sample_traceback_display(self, group: FailureGroup):
        return display.preformatted(group.sample_traceback)

    # A read-only record (see ReadOnlyRecordsAdmin): groups change through their actions.

    def has_triage_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("jobs_app.change_failuregroup")

    # Actions: confirm where it matters, call one service, log, report.

    @admin.action(description=gettext_lazy("Retry group at a rate"), permissions=["retry"])
    def retry_groups(self, request: HttpRequest, queryset: QuerySet[FailureGroup]):
        fingerprints = list(queryset.values_list("pk", flat=True))
        rate_text = request.POST.get("rate", "")
        error = ""
        if request.POST.get("post") == "yes":
            try:
                rate = group_actions.retry_rate(rate_text)
            except ValueError as problem:
                error = str(problem)
            else:
                result = group_actions.retry(fingerprints, rate=rate)
                return self._report_retry(request, queryset, result)
        count = jobs_of(fingerprints).count()
        return confirmation(
            self,
            request,
            queryset,
            title=_("Retry failure groups at a rate"),
            question=ngettext(
                "Re-run the %(jobs)d failed or dead job of %(groups)d group(s), spread out at this rate:",
                "Re-run the %(jobs)d failed or dead jobs of %(groups)d group(s), spread out at this rate:",
                count,
            )
            % {"jobs": count, "groups": len(fingerprints)},
            ask_rate=True,
            rate=rate_text or app_settings.GROUP_RETRY_RATE,
            error=error,
            groups=queryset,
        )

    def _report_retry(self, request: HttpRequest, queryset, result: group_actions.GroupRetry) -> None:
        if not result.retried:
            self.message_user(
                request, _("Nothing to retry: these groups have no failed or dead jobs."), messages.WARNING
            )
            return
        last = date_format(timezone.localtime(result.last_run_at), "DATETIME_FORMAT")
        message = ngettext(
            "Scheduled %(count)d job at %(rate)g jobs a second; it runs at %(last)s.",
            "Scheduled %(count)d jobs at %(rate)g jobs a second; the last one runs at %(last)s.",
            result.retried,
        ) % {"count": result.retried, "rate": result.rate, "last": last}
        log_groups(request, queryset, f"Retried from the admin: {message}")
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Move group to dead (no more auto-retries)"), permissions=["dead_letter"])
    def move_groups_to_dead(self, request: HttpRequest, queryset: QuerySet[FailureGroup]) -> None:
        moved = group_actions.move_groups_to_dead(list(queryset.values_list("pk", flat=True)))
        message = ngettext("Moved %(count)d failed job to dead.", "Moved %(count)d failed jobs to dead.", moved) % {
            "count": moved
        }
        log_groups(request, queryset, f"From the admin: {message}")
        self.message_user(request, message, messages.SUCCESS if moved else messages.WARNING)

    def _set_status(self, request, queryset, status: str, verb: str) -> None:
        changed = group_actions.set_status(list(queryset.values_list("pk", flat=True)), status)
        log_groups(request, queryset, f"{verb} from the admin.")
        self.message_user(
            request,
            ngettext("%(verb)s %(count)d failure group.", "%(verb)s %(count)d failure groups.", changed)
            % {"verb": verb, "count": changed},
        )

    @admin.action(description=gettext_lazy("Resolve (reopens if it fails again)"), permissions=["triage"])
    def resolve_groups(self, request: HttpRequest, queryset: QuerySet[FailureGroup]) -> None:
        self._set_status(request, queryset, FailureGroup.Status.RESOLVED, _("Resolved"))

    @admin.action(description=gettext_lazy("Mute (no auto-retries, no dead-job alert)"), permissions=["triage"])
    def mute_groups(self, request: HttpRequest, queryset: QuerySet[FailureGroup]) -> None:
        self._set_status(request, queryset, FailureGroup.Status.MUTED, _("Muted"))

    @admin.action(description=gettext_lazy("Unmute"), permissions=["triage"])
    def unmute_groups(self, request: HttpRequest, queryset: QuerySet[FailureGroup]) -> None:
        self._set_status(
            request, queryset.filter(status=FailureGroup.Status.MUTED), FailureGroup.Status.OPEN, _("Unmuted")
        )
