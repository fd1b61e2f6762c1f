"""The admin for jobs: the job list, the failed-jobs list, a job's page, bulk retry and cancel, a dashboard.

Importing this module registers `Job` and `FailedJob` with the default admin site and, unless the
project set its own `admin.site.index_template`, adds a "Jobs dashboard" link to the admin index.
"""

from django.contrib import admin

from .jobs import FailedJobAdmin, JobAdmin, JobAttemptInline

__all__ = ["FailedJobAdmin", "JobAdmin", "JobAttemptInline"]

if admin.site.index_template is None:
    admin.site.index_template = "admin/jobs_app/index.html"
