"""The admin for jobs: the job list, the failed-jobs list, a job's page, bulk retry and cancel, a dashboard,
and the failure groups.

Importing this module registers `Job` and `FailedJob` with the default admin site and, unless the
project set its own `admin.site.index_template`, adds a "Jobs dashboard" link to the admin index.
"""

from django.contrib import admin

from .groups import FailureGroupAdmin
from .jobs import FailedJobAdmin, JobAdmin, JobAttemptInline

__all__ = ["FailedJobAdmin", "FailureGroupAdmin", "JobAdmin", "JobAttemptInline"]

if admin.site.index_template is None:
    admin.site.index_template = "admin/jobs_app/index.html"
