"""Every error is JSON: unknown URLs, wrong methods, oversized bodies."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client, override_settings

from tests.factories import JobFactory

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
        ("post", "/failed", "GET, HEAD, OPTIONS"),
        ("delete", "/metrics", "GET, HEAD, OPTIONS"),
        ("put", "/health", "GET, HEAD, OPTIONS"),
        ("patch", "/queues/default/stats", "GET, HEAD, OPTIONS"),
        ("post", "/openapi.json", "GET, HEAD, OPTIONS"),
        ("delete", "/00000000-0000-0000-0000-000000000000", "GET, HEAD, OPTIONS"),
        ("get", "/00000000-0000-0000-0000-000000000000/retry", "POST, OPTIONS"),
        ("head", "/retry-all-failed", "POST, OPTIONS"),
    ],
)
def test_wrong_method_is_json_405(api, method, path, allow):
    response = getattr(api, method)(API + path)
    assert response.status_code == 405
    if method != "head":  # HEAD answers have no body
        assert response.json() == {"error": f"Method {method.upper()} not allowed"}
    assert response["Allow"] == allow


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_an_oversized_body_is_json_400(api):
    response = api.post(f"{API}/retry-all-failed", '{"queue": "' + "x" * 200 + '"}', content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


# Malformed requests (issue 15, defect 5): every endpoint answers them with a JSON 4xx, never a 500.

ENDPOINTS = [
    "/failed",
    "/retry-all-failed",
    "/metrics",
    "/health",
    "/openapi.json",
    "/queues/default/stats",
    "/00000000-0000-0000-0000-000000000000/retry",
    "/00000000-0000-0000-0000-000000000000",
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
MALFORMED = [
    pytest.param("multipart/form-data", b"x", {}, id="multipart-without-boundary"),
    pytest.param("multipart/form-data; boundary=", b"x", {}, id="multipart-empty-boundary"),
    pytest.param("multipart/form-data; boundary=abc", b"--abc\r\ngarbage", {}, id="multipart-truncated"),
    pytest.param("multipart/form-data; boundary=abc", b"--abc--", {"CONTENT_LENGTH": "-1"}, id="negative-length"),
    pytest.param("multipart/form-data; boundary=" + "b" * 300, b"x", {}, id="multipart-boundary-too-long"),
    pytest.param("application/json", b"{", {}, id="invalid-json"),
    pytest.param("application/json", b'\xff\xfe{"queue": "\xff"}', {}, id="json-not-utf8"),
    pytest.param("application/json; charset=no-such-charset", b"{}", {}, id="json-unknown-charset"),
    pytest.param("application/x-www-form-urlencoded; charset=no-such-charset", b"a=b", {}, id="form-unknown-charset"),
    pytest.param("application/x-www-form-urlencoded; charset=utf-16", b"\xff\xfea\x00", {}, id="form-utf16"),
    pytest.param("text/plain; charset=utf-8", b"\xc3\x28", {}, id="text-not-utf8"),
    pytest.param("application/json", b"[" * 100_000, {}, id="json-nested-100000"),
    pytest.param("application/json", b'{"queue": "' + b"x" * 3_000_000 + b'"}', {}, id="huge-body"),
]


def assert_json_4xx(response) -> None:
    assert 400 <= response.status_code < 500, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert "error" in response.json()


@pytest.fixture(params=["token", "staff-session", "outsider-session", "anonymous"])
def any_client(request, token, staff, outsider) -> Client:
    """Every kind of caller: the malformed request is answered before, during or after authentication."""
    client = Client(enforce_csrf_checks=True)
    # A CSRF cookie, so that a session POST's CSRF check goes on to read the body (where it broke).
    client.cookies[settings.CSRF_COOKIE_NAME] = "a" * 32
    if request.param == "token":
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    elif request.param == "staff-session":
        client.force_login(staff)
    elif request.param == "outsider-session":
        client.force_login(outsider)
    return client


@pytest.mark.parametrize(("content_type", "body", "extra"), MALFORMED)
@pytest.mark.parametrize("method", METHODS)
def test_a_malformed_request_is_never_a_500_and_a_malformed_post_is_a_json_4xx(
    any_client, method, content_type, body, extra
):
    for path in ENDPOINTS:
        response = any_client.generic(method, API + path, body, content_type=content_type, **extra)
        if method == "POST":
            assert_json_4xx(response)
        else:  # a body has no meaning on the other methods: 405, or a GET that ignores it
            assert response.status_code < 500, response.content[:300]
            assert response["Content-Type"] == "application/json"


def test_a_session_post_of_multipart_without_boundary_is_400_not_500(staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    client.cookies[settings.CSRF_COOKIE_NAME] = "a" * 32
    response = client.post(f"{API}/retry-all-failed", b"x", content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed request")


# HEAD and OPTIONS (issue 15, defect 10).

GET_ENDPOINTS = ["/failed", "/metrics", "/health", "/openapi.json", "/queues/default/stats", "/{id}"]


@pytest.mark.parametrize("path", GET_ENDPOINTS)
def test_head_answers_like_get_without_a_body(api, path):
    job = JobFactory(failed=True)
    got = api.get(API + path.format(id=job.pk))
    head = api.head(API + path.format(id=job.pk))
    assert head.status_code == got.status_code
    assert head["Content-Type"] == got["Content-Type"]
    assert head.content == b""
    assert int(head["Content-Length"]) > 0


@override_settings(JOBS_APP={"HEALTH_PUBLIC": True})
def test_a_load_balancer_may_probe_the_public_health_check_with_head():
    response = Client().head(f"{API}/health")
    assert response.status_code in (200, 503)  # 503: no worker alive in this test; never 405
    assert response.content == b""


@pytest.mark.parametrize(
    ("path", "allow"),
    [("/failed", "GET, HEAD, OPTIONS"), ("/retry-all-failed", "POST, OPTIONS"), ("/{id}/retry", "POST, OPTIONS")],
)
def test_options_answers_with_the_allow_header(path, allow):
    response = Client().options(API + path.format(id="00000000-0000-0000-0000-000000000000"))
    assert response.status_code == 200
    assert response["Allow"] == allow
    assert response.content == b""


@pytest.mark.parametrize("field", ["queue", "handler"])
def test_a_filter_holding_a_lone_surrogate_is_400_not_500(api, field):
    response = api.post(f"{API}/retry-all-failed", f'{{"{field}": "\\ud800"}}', content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": f"'{field}' must be at most 200 printable characters"}


def test_a_host_outside_allowed_hosts_gets_a_json_400_under_the_api_and_djangos_page_elsewhere(client, token):
    # Django refuses it before any view: the project's handler400 (jobs_app.api.errors.bad_request) answers.
    response = client.get(f"{API}/failed", HTTP_HOST="retry-all-failed", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (response.status_code, response["Content-Type"], response.json()) == (
        400,
        "application/json",
        {"error": "Bad Request"},
    )
    page = client.get("/admin/", HTTP_HOST="retry-all-failed")
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
