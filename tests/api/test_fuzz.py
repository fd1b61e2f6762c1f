"""Schema-driven fuzzing with schemathesis: the served OpenAPI document drives requests to the WSGI app.

Every operation gets valid (positive) and invalid (negative) inputs, in-process and with a
bearer token; no answer may be a 5xx, and every answer must match the document (status
code, content type, body schema). Bounded: a fixed number of examples per operation and a
deadline per example.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rq import Worker
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jobs_app import stats, transport
from jobs_app.api.openapi import PATHS
from jobs_app.models import JobAttempt
from tests.factories import FailureGroupFactory, JobAttemptFactory, JobFactory

from .conftest import API

EXAMPLES_PER_OPERATION = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
OPERATIONS = [(path, method) for path, methods in PATHS.items() for method in methods]


@pytest.fixture
def wsgi_app():
    """The project's WSGI application, which must not close the test's database connection after each
    request (Django's own test client disconnects the same signal handlers)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def jobs(redis, staff):
    """Some jobs of every kind, so that lists, metrics and retries have something to show, and a worker
    alive for every queue, so that the health check answers 200 (its 503 is tested in test_metrics).
    The token's user may also act on failure groups, so that their actions answer more than 403."""
    staff.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["dead_letter_job", "change_failuregroup"], content_type__app_label="jobs_app"
        )
    )
    worker = Worker(
        [name for queue in stats.logical_queues() for name in transport.rq_queue_names(queue)], connection=redis
    )
    worker.register_birth()
    group = FailureGroupFactory(sample_traceback="Traceback ...\nRuntimeError: boom")
    failed = JobFactory(failed=True, args=["ü", {"nested": [1, None]}], kwargs={"k": 1.5}, fingerprint=group.pk)
    JobFactory(dead=True, fingerprint=group.pk)
    JobAttemptFactory(job=failed)
    JobAttemptFactory(job=failed, outcome=JobAttempt.Outcome.KILLED)
    JobFactory(dead=True, queue="email", handler="email.send")
    JobFactory(succeeded=True, result={"ok": True})
    JobFactory(state="queued", queue="cleanup", timeout=2.5, idempotency_key="key")
    yield failed
    worker.register_death()


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_no_server_error_and_every_answer_matches_the_schema(wsgi_app, token, jobs, path, method, mode):
    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", wsgi_app, headers=auth)
    operation = schema[path][method.upper()]
    # A real job id and failure group too, so that detail and retry also answer with something else than 404.
    known = {"job_id": str(jobs.pk), "fingerprint": jobs.fingerprint}
    known = {name: value for name, value in known.items() if f"{{{name}}}" in path}
    known_ids = operation.as_strategy(generation_mode=mode, path_parameters=known or None)
    strategy = operation.as_strategy(generation_mode=mode) | known_ids if known else known_ids

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=timedelta(seconds=5),
        database=None,
        # CI runs a fixed set of examples, so that a red run is reproducible; elsewhere each run explores new ones.
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=list(HealthCheck),
    )
    def call(case):
        case.call_and_validate(headers=auth, checks=CHECKS)

    call()
