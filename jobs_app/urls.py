"""The JSON API's URLs. Mount them with `path("api/jobs/", include("jobs_app.urls"))`."""

from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from .api import groups, views

app_name = "jobs_api"

urlpatterns = [
    path("failed", views.failed, name="failed"),
    path("retry-all-failed", views.retry_all_failed, name="retry-all-failed"),
    path("metrics", views.metrics, name="metrics"),
    path("metrics/prometheus", views.prometheus_metrics, name="metrics-prometheus"),
    path("health", views.health, name="health"),
    path("openapi.json", views.openapi, name="openapi"),
    path("queues/<str:name>/stats", views.queue_stats, name="queue-stats"),
    path("failure-groups", groups.failure_groups, name="failure-groups"),
    path("failure-groups/<str:fingerprint>", groups.failure_group, name="failure-group"),
    path("failure-groups/<str:fingerprint>/retry", groups.retry_group, name="failure-group-retry"),
    path("failure-groups/<str:fingerprint>/dead", groups.group_to_dead, name="failure-group-dead"),
    path("failure-groups/<str:fingerprint>/resolve", groups.resolve_group, name="failure-group-resolve"),
    path("failure-groups/<str:fingerprint>/mute", groups.mute_group, name="failure-group-mute"),
    path("failure-groups/<str:fingerprint>/unmute", groups.unmute_group, name="failure-group-unmute"),
    path("queues/<str:name>/pause", views.pause_queue, name="queue-pause"),
    path("queues/<str:name>/resume", views.resume_queue, name="queue-resume"),
    path("handlers/<str:name>/pause", views.pause_handler, name="handler-pause"),
    path("handlers/<str:name>/resume", views.resume_handler, name="handler-resume"),
    path("<str:job_id>/retry", views.retry, name="retry"),
    path("<str:job_id>", views.job, name="job"),
    # Last: every other URL under the prefix answers a JSON 404 (CSRF-exempt so a POST gets it too).
    re_path(r"", csrf_exempt(views.not_found), name="not-found"),
]
