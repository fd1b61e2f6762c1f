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
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
BOUNDED = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=timedelta(seconds=5),
    database=None,
    # CI runs a fixed set of examples, so that a red run is reproducible; elsewhere each run explores new ones.
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=list(HealthCheck),
)


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
    @BOUNDED
    def call(case):
        case.call_and_validate(headers=auth, checks=CHECKS)

    call()


# Malformed bodies and content types, beyond what the schema describes (issue 15, defect 5).

CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=xyz",
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
        ]
    ).flatmap(
        lambda base: st.sampled_from(
            [base, f"{base}; charset=utf-8", f"{base}; charset=utf-16", f"{base}; charset=nonsense", f"{base};;="]
        )
    ),
    st.text(max_size=60).filter(lambda text: text.isprintable()),
)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.just(b'--xyz\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\nx\r\n--xyz--'),
    st.text(max_size=100).map(lambda text: text.encode("utf-8", "surrogatepass")),
)
NO_SUCH_JOB = "00000000-0000-0000-0000-000000000000"
RAW_PATHS = [path.replace("{job_id}", NO_SUCH_JOB).replace("{name}", "default") for path in PATHS]


@pytest.mark.django_db
@pytest.mark.parametrize("caller", ["token", "session"])
@pytest.mark.parametrize("path", RAW_PATHS)
def test_malformed_bodies_and_content_types_never_get_a_server_error(token, django_user_model, caller, path):
    client = Client(enforce_csrf_checks=True)
    client.cookies[django_settings.CSRF_COOKIE_NAME] = "a" * 32
    if caller == "token":
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    else:
        client.force_login(django_user_model.objects.get(username="ops"))

    @given(
        method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
        content_type=CONTENT_TYPES,
        body=BODIES,
    )
    @BOUNDED
    def call(method, content_type, body):
        response = client.generic(method, API + path, body, content_type=content_type)
        assert response.status_code < 500, (response.status_code, response.content[:200])
        if method in ("HEAD", "OPTIONS"):
            return
        if (path, method, response.status_code) == ("/metrics/prometheus", "GET", 200):
            assert response["Content-Type"].startswith("text/plain")  # Prometheus's exposition format, by design
        else:
            assert response["Content-Type"] == "application/json"

    call()
