"""The admin-only JSON API: failed jobs, retries, metrics and health.

Mounted by the project with `path("api/jobs/", include("jobs_app.urls"))`. Plain
Django views returning JSON; every error is `{"error": "..."}` with its status.
"""
