"""List filters that cost no query on a big table: their choices come from settings, the registry or the index."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .. import stats
from ..models import FailureGroup
from ..registry import all_handlers
from ..states import FAILED_OR_DEAD

ERROR_TYPE_CHOICES_LIMIT = 50
# The error filter offers the types seen among this many latest failures.
ERROR_TYPE_SAMPLE = 1000
# The failure-group filter offers the groups seen last.
GROUP_CHOICES = 30


class QueueFilter(admin.SimpleListFilter):
    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [(queue, queue) for queue in stats.logical_queues()]

    def queryset(self, request, queryset):
        return queryset.filter(queue=self.value()) if self.value() else queryset


class HandlerFilter(admin.SimpleListFilter):
    """The registered handlers (no DISTINCT over the table); `?handler=name` works for any name."""

    title = _("handler")
    parameter_name = "handler"

    def lookups(self, request, model_admin):
        names = sorted(all_handlers())
        chosen = self.value()
        if chosen and chosen not in names:
            names.append(chosen)
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        return queryset.filter(handler=self.value()) if self.value() else queryset


class ErrorTypeFilter(admin.SimpleListFilter):
    """Error types of the latest failures: a walk down the failed-list index, not a DISTINCT over every failed row.

    `?error_type=Name` works for any name, also one older than those.
    """

    title = _("error type")
    parameter_name = "error_type"

    def lookups(self, request, model_admin):
        latest = model_admin.model.objects.failed_or_dead().order_by("-failed_at", "-pk")
        types = sorted(set(latest.values_list("error_type", flat=True)[:ERROR_TYPE_SAMPLE]) - {""})
        types = types[:ERROR_TYPE_CHOICES_LIMIT]
        if self.value() and self.value() not in types:
            types.append(self.value())
        return [(name, name) for name in types]

    def queryset(self, request, queryset):
        return queryset.filter(error_type=self.value()) if self.value() else queryset


class FailedStateFilter(admin.SimpleListFilter):
    """State, on the failed list: only the two states that list holds."""

    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(state, state.label) for state in FAILED_OR_DEAD]

    def queryset(self, request, queryset):
        return queryset.filter(state=self.value()) if self.value() else queryset


class FailureGroupFilter(admin.SimpleListFilter):
    """The latest failure groups (by last seen); `?fingerprint=...` works for any group."""

    title = _("failure group")
    parameter_name = "fingerprint"

    def lookups(self, request, model_admin):
        latest = FailureGroup.objects.order_by("-last_seen").values_list("pk", "error_type", "message")
        choices = [(pk, f"{pk} {error_type}: {message}"[:80]) for pk, error_type, message in latest[:GROUP_CHOICES]]
        value = self.value()
        if value and value not in {pk for pk, _label in choices}:
            choices.append((value, value))
        return choices

    def queryset(self, request, queryset):
        return queryset.filter(fingerprint=self.value()) if self.value() else queryset
