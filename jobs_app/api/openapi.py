"""The OpenAPI 3 document of the API, built from the same names the views use."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from ..breaker import STATES as BREAKER_STATES
from ..conf import app_settings
from ..states import FAILED_OR_DEAD, Priority, State
from ..stats import QUEUE_STAT_NAMES

_INTEGER = {"type": "integer", "minimum": 0}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {**_TIME, "nullable": True}
_ANY: dict[str, Any] = {"description": "Any JSON value."}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), **extra}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_AUTH_ERRORS = {
    "401": _error("No credentials, or a bad or revoked token."),
    "403": _error(
        "Not a staff user, without the permission the operation needs (reads: jobs_app.view_job), "
        "or a session POST without a valid CSRF token."
    ),
}
_REDIS_DOWN = {"503": _error("Redis cannot be reached.")}
_STATE_COUNTS = _object({state: _INTEGER for state in State.values})
_TEXT_FILTER = {"type": "string", "maxLength": 200}
_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "The job's UUID. Anything else is a job that does not exist (404).",
    "schema": {"type": "string", "format": "uuid"},
}

_SUMMARY = {
    "id": {"type": "string", "format": "uuid"},
    "handler": {"type": "string"},
    "queue": {"type": "string"},
    "state": {"type": "string", "enum": State.values},
    "args": {"type": "array", "items": _ANY},
    "kwargs": {"type": "object", "additionalProperties": _ANY},
    "error_type": {"type": "string"},
    "error_message": {"type": "string"},
    "failed_at": _NULLABLE_TIME,
    "attempts": _INTEGER,
    "max_attempts": _INTEGER,
    "auto_retries": _INTEGER,
}

_ATTEMPT = {
    "cycle": _INTEGER,
    "number": _INTEGER,
    "outcome": {"type": "string", "enum": ["succeeded", "failed", "killed", "timed_out"]},
    "started_at": _TIME,
    "finished_at": _TIME,
    "duration": {"type": "number", "description": "Seconds."},
    "error_type": {"type": "string"},
    "error_message": {"type": "string"},
    "traceback": {"type": "string"},
    "worker_name": {"type": "string"},
}

_DETAIL = {
    **_SUMMARY,
    "priority": {"type": "string", "enum": Priority.values},
    "backoff": {"type": "object", "additionalProperties": _ANY},
    "timeout": {"type": "number", "nullable": True, "description": "Seconds; null means the queue's."},
    "cycle": _INTEGER,
    "created_at": _TIME,
    "scheduled_for": _NULLABLE_TIME,
    "started_at": _NULLABLE_TIME,
    "finished_at": _NULLABLE_TIME,
    "traceback": {"type": "string"},
    "result": {**_ANY, "nullable": True},
    "progress": {"type": "integer", "minimum": 0, "maximum": 100},
    "progress_message": {"type": "string"},
    "idempotency_key": {"type": "string", "nullable": True},
    "worker_name": {"type": "string"},
    "needs_push": {"type": "boolean"},
    "history": {"type": "array", "items": _ref("Attempt"), "description": "Attempts, oldest first."},
}

_PAUSED_LIST = {
    "type": "array",
    "description": "Paused queues and handlers (not a problem: an operator's choice).",
    "items": _object(
        {
            "kind": {"type": "string", "enum": ["queue", "handler"]},
            "name": {"type": "string"},
            "since": _TIME,
            "by": {"type": "string"},
        }
    ),
}

SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": {"type": "string"}}),
    "JobSummary": _object(_SUMMARY),
    "FailedJobs": _object(
        {
            "count": {**_INTEGER, "description": "Jobs matching the filters, over all pages."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 500},
            "offset": _INTEGER,
            "state": {"type": "string", "enum": list(FAILED_OR_DEAD)},
            "results": {"type": "array", "items": _ref("JobSummary")},
        }
    ),
    "Attempt": _object(_ATTEMPT),
    "Job": _object(_DETAIL),
    "RetryAccepted": _object({"message": {"type": "string"}, "job_id": {"type": "string", "format": "uuid"}}),
    "RetryAllRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "queue": {**_TEXT_FILTER, "nullable": True, "description": "Only this queue."},
            "handler": {**_TEXT_FILTER, "nullable": True, "description": "Only this handler."},
            "state": {"type": "string", "enum": list(FAILED_OR_DEAD), "default": State.FAILED},
        },
    },
    "RetryAllResult": _object(
        {"message": {"type": "string"}, "retried": _INTEGER, "skipped": _INTEGER, "total": _INTEGER}
    ),
    "StateCounts": _STATE_COUNTS,
    "Metrics": _object(
        {
            "generated_at": _TIME,
            "states": _ref("StateCounts"),
            "queues": {"type": "object", "additionalProperties": _ref("StateCounts")},
            "failures_last_24h": _object(
                {
                    "since": _TIME,
                    "by_handler": {
                        "type": "object",
                        "additionalProperties": _INTEGER,
                        "description": "Failed or killed attempts per handler since `since`.",
                    },
                }
            ),
            "rq_queue_lengths": {"type": "object", "additionalProperties": _INTEGER},
            "workers": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
                "description": "Names of the workers alive, per queue they listen to.",
            },
            "workers_alive": _INTEGER,
            "breakers": {
                "type": "object",
                "additionalProperties": _ref("Breaker"),
                "description": "Circuit breakers by name.",
            },
            "handlers": {
                "type": "object",
                "additionalProperties": _object({"last_hour": _ref("Timing"), "last_day": _ref("Timing")}),
                "description": "Per handler with attempts in the last day, from the attempt rows.",
            },
            "paused": _PAUSED_LIST,
        }
    ),
    "Timing": _object(
        {
            "runs": _INTEGER,
            "failed": {**_INTEGER, "description": "Failed or killed attempts."},
            "failure_rate": {"type": "number", "minimum": 0, "maximum": 1},
            "p50_seconds": {"type": "number", "nullable": True, "description": "Median duration, within 25 %."},
            "p95_seconds": {"type": "number", "nullable": True, "description": "95th percentile, within 25 %."},
            "per_minute": {"type": "number", "minimum": 0, "description": "Attempts per minute over the window."},
        }
    ),
    "Breaker": _object(
        {
            "state": {"type": "string", "enum": list(BREAKER_STATES)},
            "failures": {**_INTEGER, "description": "Consecutive failures (closed), or failures so far."},
            "successes": {**_INTEGER, "description": "Successes while half-open."},
            "deferred": {**_INTEGER, "description": "Jobs put back unrun, since the breaker was first used."},
            "opened_at": _NULLABLE_TIME,
            "retry_at": {**_NULLABLE_TIME, "description": "While open: when it turns half-open."},
            "failure_threshold": _INTEGER,
            "recovery_timeout": {"type": "number", "minimum": 0, "description": "Seconds."},
            "success_threshold": _INTEGER,
        }
    ),
    "QueueStats": _object({name: _INTEGER for name in QUEUE_STAT_NAMES}),
    "Pause": _object(
        {
            "kind": {"type": "string", "enum": ["queue", "handler"]},
            "name": {"type": "string"},
            "paused": {"type": "boolean", "description": "Whether it is paused now."},
            "changed": {"type": "boolean", "description": "False: it already was as asked."},
            "since": {**_NULLABLE_TIME, "description": "While paused: since when."},
            "by": {"type": "string", "nullable": True, "description": "While paused: who paused it."},
        }
    ),
    "Health": _object(
        {
            "status": {"type": "string", "enum": ["ok"]},
            "reasons": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
            "checked_at": _TIME,
            "paused": _PAUSED_LIST,
        }
    ),
    "Unhealthy": _object(
        {
            "status": {"type": "string", "enum": ["unhealthy"]},
            "error": {"type": "string"},
            "reasons": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "checked_at": _TIME,
            "paused": _PAUSED_LIST,
        }
    ),
}


def _get(summary: str, responses: dict[str, Any], parameters: list | None = None, **extra: Any) -> dict[str, Any]:
    operation = {"summary": summary, "responses": {**responses, **_AUTH_ERRORS}, **extra}
    if parameters:
        operation["parameters"] = parameters
    return {"get": operation}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _pause_operation(kind: str, action: str) -> dict[str, Any]:
    held = "wait, unrun and without spending attempts," if action == "pause" else "run again"
    return {
        "post": {
            "summary": f"{action.capitalize()} a {kind} on every worker: its jobs {held} until resumed"
            if action == "pause"
            else f"{action.capitalize()} a {kind}: its held jobs run again within PAUSE_RECHECK seconds",
            "description": "Needs the permission `jobs_app.retry_job`. Asking twice is no error (`changed` false).",
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": _json(_ref("Pause"), "Done: whether it is paused now, and since when."),
                "404": _error(f"No such {kind}."),
                **_REDIS_DOWN,
                **_AUTH_ERRORS,
            },
        }
    }


PATHS: dict[str, Any] = {
    "/failed": _get(
        "Failed (or dead) jobs, newest failure first",
        {"200": _json(_ref("FailedJobs"), "A page of jobs."), "400": _error("A query parameter is invalid.")},
        [
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "Page size."),
            _query("offset", {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0}, "Skip."),
            _query("queue", _TEXT_FILTER, "Only this queue."),
            _query("handler", _TEXT_FILTER, "Only this handler."),
            _query(
                "state",
                {"type": "string", "enum": list(FAILED_OR_DEAD), "default": State.FAILED},
                "`dead` for the dead letter.",
            ),
        ],
    ),
    "/retry-all-failed": {
        "post": {
            "summary": "Re-run every failed (or dead) job matching the filters, in bulk",
            "description": "Needs the permission `jobs_app.retry_job`. An empty body re-runs every `failed` job.",
            "requestBody": {"required": False, "content": {"application/json": {"schema": _ref("RetryAllRequest")}}},
            "responses": {
                "200": _json(_ref("RetryAllResult"), "Done: how many were re-run and skipped."),
                "400": _error("Malformed JSON, or an invalid field."),
                **_AUTH_ERRORS,
            },
        }
    },
    "/metrics": _get(
        "Counts per state and queue, failures per handler in the last 24 hours, RQ queue lengths, workers, "
        "circuit breakers",
        {"200": _json(_ref("Metrics"), "The figures."), **_REDIS_DOWN},
    ),
    "/metrics/prometheus": _get(
        "Every figure in Prometheus's text exposition format (for a Prometheus scrape)",
        {
            "200": {
                "description": "The text exposition format, version 0.0.4.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "501": _error("prometheus-client is not installed; the message says how to install it."),
            **_REDIS_DOWN,
        },
        description="Open to anyone when `JOBS_APP['METRICS_PUBLIC']` is true.",
    ),
    **{
        f"/{plural}/{{name}}/{action}": _pause_operation(kind, action)
        for kind, plural in (("queue", "queues"), ("handler", "handlers"))
        for action in ("pause", "resume")
    },
    "/queues/{name}/stats": _get(
        "Counts of one queue's jobs",
        {"200": _json(_ref("QueueStats"), "The counts."), "404": _error("No such queue in settings.RQ_QUEUES.")},
        [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
    ),
    "/health": _get(
        "Whether every queue with waiting jobs has a worker alive and every recurring job ran recently enough",
        {"200": _json(_ref("Health"), "Healthy."), "503": _json(_ref("Unhealthy"), "Unhealthy, with the reasons.")},
        description="Open to anyone when `JOBS_APP['HEALTH_PUBLIC']` is true.",
    ),
    "/openapi.json": _get(
        "This document",
        {
            "200": {
                "description": "An OpenAPI 3 document.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    ),
    "/{job_id}": _get(
        "One job, with its attempt history",
        {"200": _json(_ref("Job"), "The job."), "404": _error("No such job, or the id is not a UUID.")},
        [_JOB_ID],
    ),
    "/{job_id}/retry": {
        "post": {
            "summary": "Re-run one failed, dead or cancelled job",
            "description": "Needs the permission `jobs_app.retry_job`.",
            "parameters": [_JOB_ID],
            "responses": {
                "202": _json(_ref("RetryAccepted"), "Queued for a new run."),
                "400": _error("The job is not failed, dead or cancelled."),
                "404": _error("No such job, or the id is not a UUID."),
                "409": _error("Another request is re-running the job at this moment."),
                **_AUTH_ERRORS,
            },
        }
    },
}


# Failure groups (`jobs_app.api.groups`).
_GROUP_STATUSES = ["open", "resolved", "muted"]
_FINGERPRINT = {
    "name": "fingerprint",
    "in": "path",
    "required": True,
    "description": "The group's fingerprint (16 hex characters). Anything else is a group that does not exist (404).",
    "schema": {"type": "string"},
}
_GROUP = {
    "fingerprint": {"type": "string"},
    "handler": {"type": "string"},
    "error_type": {"type": "string", "description": "The exception's dotted class path."},
    "message": {"type": "string", "description": "The message, its variable parts masked."},
    "frame": {"type": "string", "description": "module.function of the innermost frame in the project's code."},
    "first_seen": _TIME,
    "last_seen": _TIME,
    "occurrences": {**_INTEGER, "description": "Failed attempts."},
    "jobs": {**_INTEGER, "description": "The group's jobs now failed or dead."},
    "status": {"type": "string", "enum": _GROUP_STATUSES},
    "regressed": {"type": "boolean", "description": "Failed again after it was resolved."},
    "sample_job_id": {"type": "string", "format": "uuid", "nullable": True},
}
SCHEMAS.update(
    {
        "FailureGroupSummary": _object(_GROUP),
        "FailureGroups": _object(
            {
                "count": {**_INTEGER, "description": "Groups matching the filters, over all pages."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 500},
                "offset": _INTEGER,
                "results": {"type": "array", "items": _ref("FailureGroupSummary")},
            }
        ),
        "FailureGroup": _object(
            {
                **_GROUP,
                "resolved_at": _NULLABLE_TIME,
                "sample_message": {"type": "string"},
                "sample_traceback": {"type": "string"},
                "hourly": {
                    "type": "object",
                    "additionalProperties": _INTEGER,
                    "description": "Failed attempts per hour (keys: hours since the epoch), the last 48 hours.",
                },
                "job_ids": {"type": "array", "items": {"type": "string", "format": "uuid"}, "maxItems": 100},
            }
        ),
        "GroupRetryRequest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "rate": {
                    "type": "number",
                    "exclusiveMinimum": True,
                    "minimum": 0,
                    "maximum": 1_000_000,
                    "description": "Jobs a second; default `JOBS_APP['GROUP_RETRY_RATE']`.",
                }
            },
        },
        "GroupRetried": _object(
            {
                "retried": _INTEGER,
                "rate": {"type": "number"},
                "last_run_at": {**_TIME, "description": "When the last re-run job is scheduled to run."},
            }
        ),
    }
)


def _group_action(summary: str, permission: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": f"Needs the permission `{permission}`.",
            "parameters": [_FINGERPRINT],
            "responses": {
                **responses,
                "404": _error("No such failure group."),
                **_AUTH_ERRORS,
            },
            **extra,
        }
    }


_GROUP_ANSWER = {"200": _json(_ref("FailureGroup"), "The group, as it is now."), "400": _error("A body was sent.")}
PATHS.update(
    {
        "/failure-groups": _get(
            "Failure groups (one per cause), last seen first",
            {"200": _json(_ref("FailureGroups"), "A page of groups."), "400": _error("A query parameter is invalid.")},
            [
                _query("status", {"type": "string", "enum": _GROUP_STATUSES}, "Only groups in this status."),
                _query("handler", _TEXT_FILTER, "Only this handler."),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "Page size."),
                _query("offset", {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0}, "Skip."),
            ],
        ),
        "/failure-groups/{fingerprint}": _get(
            "One failure group, with its sample traceback and the ids of up to 100 of its failed or dead jobs",
            {"200": _json(_ref("FailureGroup"), "The group."), "404": _error("No such failure group.")},
            [_FINGERPRINT],
        ),
        "/failure-groups/{fingerprint}/retry": _group_action(
            "Re-run the group's failed and dead jobs, scheduled 1/rate seconds apart",
            "jobs_app.retry_job",
            {
                "202": _json(_ref("GroupRetried"), "Scheduled."),
                "400": _error("Nothing to retry, a bad rate, or malformed JSON."),
            },
            requestBody={"required": False, "content": {"application/json": {"schema": _ref("GroupRetryRequest")}}},
        ),
        "/failure-groups/{fingerprint}/resolve": _group_action(
            "Resolve the group: it reopens, marked regressed, if it fails again",
            "jobs_app.change_failuregroup",
            _GROUP_ANSWER,
        ),
        "/failure-groups/{fingerprint}/mute": _group_action(
            "Mute the group: the sweeper leaves its jobs alone and the dead-job alert leaves it out",
            "jobs_app.change_failuregroup",
            _GROUP_ANSWER,
        ),
        "/failure-groups/{fingerprint}/unmute": _group_action(
            "Unmute the group (open again)", "jobs_app.change_failuregroup", _GROUP_ANSWER
        ),
        "/failure-groups/{fingerprint}/dead": _group_action(
            "Move the group's failed jobs to dead now (no more auto-retries)",
            "jobs_app.dead_letter_job",
            _GROUP_ANSWER,
        ),
    }
)


def openapi_document(base_path: str) -> dict[str, Any]:
    """The document, for the API mounted at `base_path` (for example `/api/jobs`)."""
    paths = PATHS
    for path, setting in (("/health", "HEALTH_PUBLIC"), ("/metrics/prometheus", "METRICS_PUBLIC")):
        if getattr(app_settings, setting):
            paths = {**paths, path: {"get": {**PATHS[path]["get"], "security": [{}]}}}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "jobs_app API",
            "version": "1",
            "description": "Admin-only JSON API for failed jobs, retries, metrics and health. "
            'Every error is `{"error": "..."}`.',
        },
        "servers": [{"url": base_path or "/"}],
        "security": [{"bearerAuth": []}, {"sessionAuth": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `python manage.py create_api_token <username>`.",
                },
                "sessionAuth": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": settings.SESSION_COOKIE_NAME,
                    "description": "A staff user's Django session; POSTs also need the CSRF token.",
                },
            },
        },
    }
