"""Every error is JSON: unknown URLs, wrong methods, oversized bodies."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from .conftest import API

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/nothing/here", "/failed/", "/queues/default", "/", "/a/b/c/retry"])
def test_unknown_urls_under_the_api_are_json_404(api, path):
    response = api.get(API + path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": f"No API endpoint at {API}{path}"}


def test_unknown_url_answers_json_even_to_a_post_without_credentials():
    response = Client(enforce_csrf_checks=True).post(f"{API}/nothing/at/all")
    assert response.status_code == 404
    assert "error" in response.json()


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("post", "/failed", "GET"),
        ("delete", "/metrics", "GET"),
        ("put", "/health", "GET"),
        ("patch", "/queues/default/stats", "GET"),
        ("post", "/openapi.json", "GET"),
        ("delete", "/00000000-0000-0000-0000-000000000000", "GET"),
    ],
)
def test_wrong_method_is_json_405(api, method, path, allow):
    response = getattr(api, method)(API + path)
    assert response.status_code == 405
    assert response.json() == {"error": f"Method {method.upper()} not allowed"}
    assert response["Allow"] == allow


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_an_oversized_body_is_json_400(api):
    response = api.post(f"{API}/retry-all-failed", '{"queue": "' + "x" * 200 + '"}', content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()
