"""GET /api/jobs/openapi.json: an OpenAPI 3 document of every endpoint, served where the API is mounted."""

from __future__ import annotations

import pytest
import schemathesis
from django.test import Client, override_settings
from django.urls import get_resolver

from jobs_app.api.openapi import PATHS

from .conftest import API

pytestmark = pytest.mark.django_db


def test_documents_every_endpoint(api):
    response = api.get(f"{API}/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": API}]
    assert {(path, method) for path, methods in document["paths"].items() for method in methods} == {
        ("/failed", "get"),
        ("/{job_id}", "get"),
        ("/{job_id}/retry", "post"),
        ("/retry-all-failed", "post"),
        ("/metrics", "get"),
        ("/queues/{name}/stats", "get"),
        ("/health", "get"),
        ("/openapi.json", "get"),
        ("/failure-groups", "get"),
        ("/failure-groups/{fingerprint}", "get"),
        ("/failure-groups/{fingerprint}/retry", "post"),
        ("/failure-groups/{fingerprint}/resolve", "post"),
        ("/failure-groups/{fingerprint}/mute", "post"),
        ("/failure-groups/{fingerprint}/unmute", "post"),
        ("/failure-groups/{fingerprint}/dead", "post"),
        ("/metrics/prometheus", "get"),
        ("/queues/{name}/pause", "post"),
        ("/queues/{name}/resume", "post"),
        ("/handlers/{name}/pause", "post"),
        ("/handlers/{name}/resume", "post"),
    }
    assert set(document["components"]["securitySchemes"]) == {"bearerAuth", "sessionAuth"}


def test_is_a_valid_openapi_document(api):
    schema = schemathesis.openapi.from_dict(api.get(f"{API}/openapi.json").json())
    assert len(list(schema.get_all_operations())) == 20


def test_every_api_url_is_documented():
    """A view added to jobs_app.urls without a line in the document fails here."""
    patterns = {str(pattern.pattern) for pattern in get_resolver("jobs_app.urls").url_patterns}
    documented = {path.lstrip("/").replace("{", "<str:").replace("}", ">") for path in PATHS}
    assert patterns - {""} == documented


def test_needs_credentials():
    assert Client().get(f"{API}/openapi.json").status_code == 401


@override_settings(JOBS_APP={"HEALTH_PUBLIC": True})
def test_says_when_health_needs_no_credentials(api):
    paths = api.get(f"{API}/openapi.json").json()["paths"]
    assert paths["/health"]["get"]["security"] == [{}]
    assert "security" not in paths["/metrics"]["get"]
