"""Who may call the API: staff by session (CSRF on POST) or by bearer token; 401 and 403 otherwise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from jobs_app.api.tokens import issue_token, revoke_tokens
from jobs_app.models import ApiToken, Job
from tests.factories import JobFactory

from .conftest import API

pytestmark = pytest.mark.django_db

GET_ENDPOINTS = ["/failed", "/metrics", "/health", "/openapi.json", "/queues/default/stats", "/" + "0" * 32]


@pytest.mark.parametrize("path", GET_ENDPOINTS)
def test_no_credentials_is_401_json(path):
    response = Client().get(API + path)
    assert response.status_code == 401
    assert response.json() == {"error": "Authentication required: log in as a staff user or send a Bearer token"}
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer ", "bearer " + "x" * 500])
def test_bad_token_is_401(header):
    response = Client(headers={"Authorization": header}).get(f"{API}/failed")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or revoked API token"}


def test_revoked_token_is_401(staff, token):
    assert Client(headers={"Authorization": f"Bearer {token}"}).get(f"{API}/failed").status_code == 200
    assert revoke_tokens(staff) == 1
    response = Client(headers={"Authorization": f"Bearer {token}"}).get(f"{API}/failed")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or revoked API token"}


def test_token_of_inactive_user_is_401(staff, token):
    staff.is_active = False
    staff.save()
    response = Client(headers={"Authorization": f"Bearer {token}"}).get(f"{API}/failed")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or revoked API token"}


def test_bad_token_is_401_even_with_a_staff_session(session_client):
    response = session_client.get(f"{API}/failed", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or revoked API token"}


def test_other_authorization_schemes_fall_back_to_the_session(session_client):
    job = JobFactory(failed=True)
    response = session_client.get(f"{API}/failed", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert response.status_code == 200
    assert [found["id"] for found in response.json()["results"]] == [str(job.pk)]


@pytest.mark.parametrize("path", GET_ENDPOINTS)
def test_non_staff_session_is_403(outsider, path):
    client = Client()
    client.force_login(outsider)
    response = client.get(API + path)
    assert response.status_code == 403
    assert response.json() == {"error": "Staff users only"}


def test_non_staff_token_is_403(outsider):
    raw = issue_token(outsider)[1]
    response = Client(headers={"Authorization": f"Bearer {raw}"}).get(f"{API}/failed")
    assert response.status_code == 403
    assert response.json() == {"error": "Staff users only"}


def test_staff_session_may_read(session_client):
    job = JobFactory(failed=True)
    response = session_client.get(f"{API}/failed")
    assert response.status_code == 200
    assert (response.json()["count"], response.json()["results"][0]["id"]) == (1, str(job.pk))


def test_session_post_without_csrf_token_is_403_json(session_client):
    job = JobFactory(failed=True)
    response = session_client.post(f"{API}/{job.pk}/retry")
    assert response.status_code == 403
    assert response.json()["error"].startswith("CSRF check failed")
    job.refresh_from_db()
    assert job.state == Job.State.FAILED


def test_session_post_with_csrf_token_is_accepted(session_client):
    job = JobFactory(failed=True)
    session_client.get("/admin/")  # a page with a form (log out) sets the CSRF cookie
    csrf = session_client.cookies["csrftoken"].value
    response = session_client.post(f"{API}/{job.pk}/retry", headers={"X-CSRFToken": csrf})
    assert response.status_code == 202
    assert response.json()["job_id"] == str(job.pk)
    job.refresh_from_db()
    assert (job.state, job.cycle) == (Job.State.QUEUED, 2)


def test_token_post_needs_no_csrf_token(api):
    job = JobFactory(failed=True)
    response = api.post(f"{API}/{job.pk}/retry")
    assert response.status_code == 202
    assert response.json()["job_id"] == str(job.pk)
    job.refresh_from_db()
    assert (job.state, job.cycle) == (Job.State.QUEUED, 2)


@pytest.mark.parametrize("path", ["/{id}/retry", "/retry-all-failed"])
def test_retries_need_the_retry_permission(viewer, path):
    job = JobFactory(failed=True)
    raw = issue_token(viewer)[1]
    response = Client(headers={"Authorization": f"Bearer {raw}"}).post(API + path.format(id=job.pk))
    assert response.status_code == 403
    assert response.json() == {"error": "Permission 'jobs_app.retry_job' required"}
    job.refresh_from_db()
    assert job.state == Job.State.FAILED


def test_superuser_may_retry_without_explicit_permission(django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="pw")
    raw = issue_token(admin)[1]
    job = JobFactory(failed=True)
    response = Client(headers={"Authorization": f"Bearer {raw}"}).post(f"{API}/{job.pk}/retry")
    assert response.status_code == 202
    assert response.json()["job_id"] == str(job.pk)
    job.refresh_from_db()
    assert (job.state, job.cycle) == (Job.State.QUEUED, 2)


def test_health_is_closed_by_default():
    response = Client().get(f"{API}/health")
    assert response.status_code == 401
    assert "Authentication required" in response.json()["error"]


@override_settings(JOBS_APP={"HEALTH_PUBLIC": True})
def test_health_may_be_opened_for_load_balancers():
    response = Client().get(f"{API}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    # Only the health check: everything else stays closed.
    closed = Client().get(f"{API}/metrics")
    assert closed.status_code == 401
    assert "Authentication required" in closed.json()["error"]


def test_using_a_token_records_when(staff):
    row, raw = issue_token(staff)
    assert row.last_used_at is None
    Client(headers={"Authorization": f"Bearer {raw}"}).get(f"{API}/failed")
    row.refresh_from_db()
    assert row.last_used_at is not None
    assert timezone.now() - row.last_used_at < timedelta(minutes=1)


def test_tokens_are_stored_hashed(staff):
    row, raw = issue_token(staff)
    assert raw not in {row.key_hash, row.prefix, row.name}
    assert not ApiToken.objects.filter(key_hash=raw).exists()
    assert raw.startswith(row.prefix)


# Reads need the view permission, as in the admin (issue 15, defect 4).

READS = ["/failed", "/metrics", "/health", "/queues/default/stats", "/{id}"]


@pytest.mark.parametrize("path", READS)
def test_staff_without_the_view_permission_may_not_read(bare_staff, path):
    job = JobFactory(failed=True, args=["secret"])
    raw = issue_token(bare_staff)[1]
    response = Client(headers={"Authorization": f"Bearer {raw}"}).get(API + path.format(id=job.pk))
    assert response.status_code == 403
    assert response.json() == {"error": "Permission 'jobs_app.view_job' required"}
    assert "secret" not in response.content.decode()


@pytest.mark.parametrize("codename", ["view_job", "change_job"])
def test_the_view_or_change_permission_lets_staff_read_as_in_the_admin(bare_staff, codename):
    from django.contrib.auth.models import Permission

    bare_staff.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label="jobs_app"))
    job = JobFactory(failed=True)
    raw = issue_token(bare_staff)[1]
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get(f"{API}/{job.pk}").status_code == 200


def test_the_admin_refuses_the_same_staff_user(bare_staff, client):
    client.force_login(bare_staff)
    job = JobFactory(failed=True)
    assert client.get(f"/admin/jobs_app/job/{job.pk}/change/").status_code == 403


def test_writes_keep_their_own_permission(django_user_model):
    from django.contrib.auth.models import Permission

    retrier = django_user_model.objects.create_user("retrier", password="pw", is_staff=True)
    retrier.user_permissions.add(Permission.objects.get(codename="retry_job", content_type__app_label="jobs_app"))
    job = JobFactory(failed=True)
    client = Client(headers={"Authorization": f"Bearer {issue_token(retrier)[1]}"})
    assert client.post(f"{API}/{job.pk}/retry").status_code == 202
    assert client.get(f"{API}/{job.pk}").status_code == 403


def every_endpoint() -> list[tuple[str, str]]:
    """(url, method) for every API URL but the catch-all 404, each with its first method."""
    from django.urls import URLPattern, reverse

    from jobs_app import urls

    found = []
    for pattern in urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        if pattern.name == "not-found":
            continue
        kwargs = {
            name: {"job_id": "00000000-0000-0000-0000-000000000000"}.get(name, "default")
            for name in pattern.pattern.converters
        }
        allow = Client().options(reverse(f"jobs_api:{pattern.name}", kwargs=kwargs))["Allow"]
        found.append((reverse(f"jobs_api:{pattern.name}", kwargs=kwargs), allow.split(", ")[0]))
    return found


def test_every_endpoint_but_the_openapi_document_needs_a_jobs_permission(bare_staff):
    """The class: an endpoint added later is closed to staff without the permissions unless it says otherwise."""
    client = Client(headers={"Authorization": f"Bearer {issue_token(bare_staff)[1]}"})
    for url, method in every_endpoint():
        response = client.generic(method, url)
        if url.endswith("openapi.json"):
            assert response.status_code == 200
        else:
            assert response.status_code == 403, url
            assert response.json()["error"].startswith("Permission 'jobs_app.")
