"""Breakers in the admin dashboard (with the close and open buttons) and in /api/jobs/metrics."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from jobs_app.breaker import CLOSED, OPEN, Breaker

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis")]

DASHBOARD = "/admin/jobs_app/job/dashboard/"
BREAKER = Breaker("test-whatsapp")


def url(action: str, name: str = "test-whatsapp") -> str:
    return f"/admin/jobs_app/job/breakers/{name}/{action}/"


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_job", "retry_job"], content_type__app_label="jobs_app")
    )
    return user


@pytest.fixture
def viewer(django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_job", content_type__app_label="jobs_app"))
    return user


def test_the_dashboard_shows_each_breaker_with_its_state_and_counts(client, operator):
    for _ in range(2):
        BREAKER.record_failure()
    client.force_login(operator)

    response = client.get(DASHBOARD)

    [state] = [item for item in response.context["breakers"] if item.name == "test-whatsapp"]
    assert (state.state, state.failures) == (OPEN, 2)
    html = response.content.decode()
    assert "Circuit breakers" in html and "opens after 2 failures, waits 60 s, closes after 2 successes" in html
    assert f'action="{url("close")}"' in html


def test_an_operator_closes_and_opens_a_breaker_by_hand(client, operator, caplog):
    BREAKER.open()
    client.force_login(operator)

    response = client.post(url("close"), follow=True)

    assert BREAKER.state().state == CLOSED
    assert "Breaker test-whatsapp is closed" in response.content.decode()
    assert "closed by hand by operator" in caplog.text
    client.post(url("open"))
    assert BREAKER.state().state == OPEN


def test_the_buttons_need_a_post_with_csrf_and_the_retry_permission(operator, viewer):
    BREAKER.open()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(operator)
    assert strict.post(url("close")).status_code == 403  # no CSRF token
    assert strict.get(url("close")).status_code == 405

    viewing = Client()
    viewing.force_login(viewer)
    assert viewing.post(url("close")).status_code == 403
    assert "Close" not in viewing.get(DASHBOARD).content.decode().split('id="breakers"')[1].split("</table>")[0]
    assert BREAKER.state().state == OPEN


def test_an_unknown_breaker_or_action_is_404(client, operator):
    client.force_login(operator)
    assert client.post(url("close", name="nobody")).status_code == 404
    assert client.post(url("explode")).status_code == 404


def test_metrics_show_every_breaker(admin_client):
    BREAKER.open()

    breakers = admin_client.get("/api/jobs/metrics").json()["breakers"]

    assert breakers["test-whatsapp"]["state"] == "open"
    assert breakers["test-whatsapp"]["failure_threshold"] == 2
    assert breakers["test-whatsapp"]["retry_at"] is not None
    assert breakers["reporting"]["state"] == "closed"  # the demo's, never used yet
