"""The admin for jobs: the job list, the failed-jobs list, a job's page, bulk retry and cancel, a dashboard,
and the failure groups.

Importing this module registers `Job` and `FailedJob` with the default admin site. The "Jobs
dashboard" link on the admin index comes from the project's own `templates/admin/index.html`
(see docs/architecture.md); the app's change lists link to the dashboard themselves.
"""

from .groups import FailureGroupAdmin
from .jobs import FailedJobAdmin, JobAdmin, JobAttemptInline

__all__ = ["FailedJobAdmin", "FailureGroupAdmin", "JobAdmin", "JobAttemptInline"]
