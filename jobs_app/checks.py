"""System checks: settings that would make jobs run unsafely, or not at all."""

from __future__ import annotations

import difflib

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from . import group_actions
from .conf import BREAKER_DEFAULTS, DEFAULTS, app_settings
from .policy import to_seconds
from .registry import all_handlers

WORKER_CLASSES = ("jobs_app.worker.Worker", "jobs_app.worker.SimpleWorker")


@register()
def check_rq_settings(app_configs=None, **kwargs) -> list:
    messages: list[CheckMessage] = []
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


@register()
def check_setting_names(app_configs=None, **kwargs) -> list:
    """Every key of JOBS_APP is a setting jobs_app knows: a misspelt one would be ignored silently."""
    configured = getattr(settings, "JOBS_APP", {})
    if not isinstance(configured, dict):
        return [
            Error("JOBS_APP must be a dict.", hint='For example JOBS_APP = {"REPAIR_GRACE": 60}.', id="jobs_app.E003")
        ]
    messages = []
    for name in sorted(set(configured) - set(DEFAULTS), key=str):
        close = difflib.get_close_matches(str(name), list(DEFAULTS), n=1)
        hint = f"Did you mean {close[0]!r}?" if close else f"The settings are: {', '.join(sorted(DEFAULTS))}."
        messages.append(Error(f"JOBS_APP has an unknown setting {name!r}.", hint=hint, id="jobs_app.E004"))
    return messages


@register()
def check_sweeper_settings(app_configs=None, **kwargs) -> list:
    """JOBS_APP["AUTO_RETRY"], ["REPAIR_GRACE"], ["ALERT_DEAD_THRESHOLD"] and ["RETENTION"]."""
    messages = []

    def error(setting: str, problem: str, hint: str, number: int) -> None:
        messages.append(Error(f'JOBS_APP["{setting}"] {problem}', hint=hint, id=f"jobs_app.E1{number:02d}"))

    try:
        app_settings.auto_retry  # noqa: B018 - building it is the check
    except (TypeError, ValueError) as problem:
        error("AUTO_RETRY", f"is not valid: {problem}", 'For example {"delay": 300, "max_retries": 3}.', 1)
    try:
        to_seconds(app_settings.REPAIR_GRACE, name="REPAIR_GRACE")
    except (TypeError, ValueError) as problem:
        error("REPAIR_GRACE", f"is not valid: {problem}", "Give a number of seconds, for example 60.", 2)
    threshold = app_settings.ALERT_DEAD_THRESHOLD
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0):
        error("ALERT_DEAD_THRESHOLD", f"must be a whole number or None, got {threshold!r}", "For example 100.", 3)
    try:
        unknown = sorted(set(app_settings.RETENTION) - set(DEFAULTS["RETENTION"]))
        if unknown:
            raise ValueError(f"unknown state(s) {', '.join(unknown)}")
        app_settings.retention  # noqa: B018 - building it is the check
    except (AttributeError, TypeError, ValueError) as problem:
        error(
            "RETENTION",
            f"is not valid: {problem}",
            'Map "succeeded", "dead" and "cancelled" to seconds or timedeltas.',
            4,
        )
    return messages


@register()
def check_breaker_settings(app_configs=None, **kwargs) -> list:
    """JOBS_APP["BREAKERS"]: {name: {"failure_threshold", "recovery_timeout", "success_threshold"}}."""
    hint = 'For example {"whatsapp": {"failure_threshold": 5, "recovery_timeout": 60, "success_threshold": 3}}.'
    breakers = app_settings.BREAKERS
    if not isinstance(breakers, dict):
        return [Error('JOBS_APP["BREAKERS"] must be a dict of breaker names.', hint=hint, id="jobs_app.E201")]
    messages = []
    for name, config in sorted(breakers.items()):
        problem = ""
        if not isinstance(config, dict):
            problem = "must be a dict"
        elif unknown := sorted(set(config) - set(BREAKER_DEFAULTS)):
            problem = f"has unknown key(s) {', '.join(unknown)}"
        else:
            for key in ("failure_threshold", "success_threshold"):
                value = config.get(key, BREAKER_DEFAULTS[key])
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    problem = f"{key} must be a whole number of at least 1, got {value!r}"
            try:
                recovery = config.get("recovery_timeout", BREAKER_DEFAULTS["recovery_timeout"])
                if not to_seconds(recovery, name="recovery_timeout"):
                    problem = "recovery_timeout must be more than 0 seconds"
            except (TypeError, ValueError) as error:
                problem = str(error)
        if problem:
            messages.append(Error(f'JOBS_APP["BREAKERS"][{name!r}] {problem}.', hint=hint, id="jobs_app.E202"))
    return messages


@register()
def check_group_settings(app_configs=None, **kwargs) -> list:
    """JOBS_APP["GROUP_RETRY_RATE"]: a number of jobs a second that the retry accepts."""
    rate = app_settings.GROUP_RETRY_RATE
    try:
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ValueError(f"it must be a number of jobs a second, got {rate!r}")
        group_actions.retry_rate(rate)
    except ValueError as error:
        return [
            Error(
                f'JOBS_APP["GROUP_RETRY_RATE"]: {error}.',
                hint='For example JOBS_APP = {"GROUP_RETRY_RATE": 10}.',
                id="jobs_app.E311",
            )
        ]
    return []


@register()
def check_operations_settings(app_configs=None, **kwargs) -> list:
    """JOBS_APP["METRICS_PUBLIC"], ["METRICS_CACHE_SECONDS"] and ["PAUSE_RECHECK"]."""
    messages = []
    if not isinstance(app_settings.METRICS_PUBLIC, bool):
        messages.append(
            Error(
                f'JOBS_APP["METRICS_PUBLIC"] must be True or False, got {app_settings.METRICS_PUBLIC!r}.',
                hint="False (the default) asks a Prometheus scrape for a bearer token, like the rest of the API.",
                id="jobs_app.E301",
            )
        )
    for setting, minimum, number in (("METRICS_CACHE_SECONDS", 0, 2), ("PAUSE_RECHECK", 1, 3)):
        value = getattr(app_settings, setting)
        try:
            seconds = to_seconds(value, name=setting)
            if seconds < minimum:
                raise ValueError(f"must be at least {minimum} s, got {seconds:g}")
        except (TypeError, ValueError) as problem:
            messages.append(
                Error(
                    f'JOBS_APP["{setting}"] is not valid: {problem}',
                    hint=f"Give a number of seconds, for example {DEFAULTS[setting]}.",
                    id=f"jobs_app.E30{number}",
                )
            )
    return messages


@register()
def check_database_settings(app_configs=None, **kwargs) -> list:
    """JOBS_APP["PREPARED_STATEMENTS"]."""
    if isinstance(app_settings.PREPARED_STATEMENTS, bool):
        return []
    return [
        Error(
            f'JOBS_APP["PREPARED_STATEMENTS"] must be True or False, got {app_settings.PREPARED_STATEMENTS!r}.',
            hint="True prepares the worker's claim and outcome on PostgreSQL; False (the default) for a pooler in "
            "transaction mode that cannot carry prepared statements (pgbouncer before 1.21).",
            id="jobs_app.E401",
        )
    ]
