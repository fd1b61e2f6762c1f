"""What every jobs_app admin shares: records that change through services and actions, never through a form."""

from __future__ import annotations

from django.contrib import admin


class ReadOnlyRecordsAdmin(admin.ModelAdmin):
    """No add, change or delete form: rows change through the services, by the admin's actions."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_retry_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("jobs_app.retry_job")

    def has_dead_letter_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("jobs_app.dead_letter_job")
