"""System checks: settings that would make jobs run unsafely, or not at all."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

from .registry import all_handlers

WORKER_CLASSES = ("jobs_app.worker.Worker", "jobs_app.worker.SimpleWorker")


@register()
def check_rq_settings(app_configs=None, **kwargs) -> list:
    messages = []
    queues = getattr(settings, "RQ_QUEUES", None) or {}
    if not queues:
        messages.append(
            Error("RQ_QUEUES is not set.", hint="Define RQ_QUEUES with at least 'default'.", id="jobs_app.E001")
        )
    for name, handler in sorted(all_handlers().items()):
        if queues and handler.queue not in queues:
            messages.append(
                Error(
                    f"Job handler {name!r} uses queue {handler.queue!r}, which is not in RQ_QUEUES.",
                    hint=f"Add {handler.queue!r} to RQ_QUEUES or pass one of: {', '.join(sorted(queues))}.",
                    id="jobs_app.E002",
                )
            )
    rq_settings = getattr(settings, "RQ", {})
    if rq_settings.get("WORKER_CLASS") not in WORKER_CLASSES:
        messages.append(
            Warning(
                "RQ['WORKER_CLASS'] is not jobs_app's worker: `manage.py rqworker` would decode pickle, "
                "run any function named in Redis and ignore job priorities.",
                hint="Set RQ = {'WORKER_CLASS': 'jobs_app.worker.Worker', 'JOB_CLASS': 'jobs_app.worker.Job'}.",
                id="jobs_app.W001",
            )
        )
    for name, config in sorted(queues.items()):
        if config.get("SERIALIZER") not in ("rq.serializers.JSONSerializer",):
            messages.append(
                Warning(
                    f"RQ_QUEUES[{name!r}] does not use rq.serializers.JSONSerializer.",
                    hint="Set 'SERIALIZER': 'rq.serializers.JSONSerializer'; jobs_app never uses pickle.",
                    id="jobs_app.W002",
                )
            )
    return messages
