"""Retry and cancel need `jobs_app.retry_job` / `jobs_app.cancel_job`: hidden without them; forged POSTs do nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs_app import transport
from jobs_app.models import Job
from tests.conftest import staff_with
from tests.factories import JobFactory

from .conftest import messages_of, post_action

pytestmark = pytest.mark.django_db


def action_names(client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["action_form"]
    return [value for value, _label in form.fields["action"].choices if value] if form else []


def test_staff_without_the_permissions_sees_no_action(viewer_client):
    assert action_names(viewer_client, "/admin/jobs_app/job/") == []
    assert action_names(viewer_client, "/admin/jobs_app/failedjob/") == []


def test_each_permission_shows_its_own_action(client):
    client.force_login(staff_with("retrier", "view_job", "retry_job"))
    assert action_names(client, "/admin/jobs_app/job/") == ["retry_selected"]
    client.force_login(staff_with("canceller", "view_job", "cancel_job"))
    assert action_names(client, "/admin/jobs_app/job/") == ["cancel_selected"]


def test_a_forged_retry_post_changes_nothing(viewer_client, django_capture_on_commit_callbacks):
    job = JobFactory(failed=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(viewer_client, "job", "retry_selected", [job])
    assert messages_of(response) == []
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert transport.rq_queue("default").count == 0


def test_a_forged_cancel_post_from_someone_who_may_only_retry_changes_nothing(client):
    client.force_login(staff_with("retrier", "view_job", "retry_job"))
    job = JobFactory()
    response = post_action(client, "job", "cancel_selected", [job])
    assert messages_of(response) == ["No action selected."]
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED


def test_retry_now_needs_the_permission(viewer_client):
    job = JobFactory(dead=True)
    response = viewer_client.get(reverse("admin:jobs_app_job_change", args=[job.pk]))
    assert b"Retry now" not in response.content
    response = viewer_client.post(reverse("admin:jobs_app_job_retry", args=[job.pk]))
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.state == Job.State.DEAD


def test_jobs_are_read_only_even_for_a_superuser(admin_client):
    job = JobFactory(failed=True)
    response = admin_client.get(reverse("admin:jobs_app_job_change", args=[job.pk]))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert b'name="_save"' not in response.content
    assert admin_client.post(reverse("admin:jobs_app_job_delete", args=[job.pk])).status_code == 403
    assert admin_client.get(reverse("admin:jobs_app_job_add")).status_code == 403


def test_staff_without_view_permission_cannot_open_the_lists_or_the_dashboard(client):
    client.force_login(staff_with("no-permissions"))
    assert client.get("/admin/jobs_app/job/").status_code == 403
    assert client.get("/admin/jobs_app/failedjob/").status_code == 403
    assert client.get(reverse("admin:jobs_app_job_dashboard")).status_code == 403
