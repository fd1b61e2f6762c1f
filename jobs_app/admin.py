"""The admin for jobs: read-only records of every job and attempt."""

from django.contrib import admin

from .models import Job, JobAttempt


class JobAttemptInline(admin.TabularInline):
    model = JobAttempt
    extra = 0
    can_delete = False
    fields = ("cycle", "number", "outcome", "started_at", "duration", "error_type", "error_message", "worker_name")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "handler", "queue", "state", "attempts", "max_attempts", "error_type", "created_at")
    list_filter = ("state", "queue", "handler")
    search_fields = ("handler", "error_message")
    inlines = [JobAttemptInline]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Job._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
