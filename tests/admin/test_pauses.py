"""The dashboard's pause and resume buttons: for operators only, each change in the admin log."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from jobs_app import pauses

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/jobs_app/job/dashboard/"


def url(kind: str, name: str, action: str) -> str:
    return f"/admin/jobs_app/job/pauses/{kind}/{name}/{action}/"


def test_an_operator_pauses_and_resumes_a_queue_and_a_handler_with_audit_entries(operator_client, operator, redis):
    html = operator_client.get(DASHBOARD).content.decode()
    assert f'action="{url("queue", "email", "pause")}"' in html
    assert f'action="{url("handler", "test.add", "pause")}"' in html

    response = operator_client.post(url("queue", "email", "pause"), follow=True)
    assert "The queue email is paused" in response.content.decode()
    operator_client.post(url("handler", "test.add", "pause"))
    assert {(pause.kind, pause.name, pause.by) for pause in pauses.paused()} == {
        ("queue", "email", operator.username),
        ("handler", "test.add", operator.username),
    }
    html = operator_client.get(DASHBOARD).content.decode()
    assert "paused since" in html
    assert f'action="{url("queue", "email", "resume")}"' in html

    operator_client.post(url("queue", "email", "resume"))
    assert [(pause.kind, pause.name) for pause in pauses.paused()] == [("handler", "test.add")]
    entries = list(LogEntry.objects.filter(user=operator).order_by("pk").values_list("object_repr", "change_message"))
    assert entries == [
        ("queue email", "Paused the queue 'email'"),
        ("handler test.add", "Paused the handler 'test.add'"),
        ("queue email", "Resumed the queue 'email'"),
    ]


def test_a_viewer_sees_no_buttons_and_may_not_pause(viewer_client, redis):
    assert "pauses/queue/" not in viewer_client.get(DASHBOARD).content.decode()
    assert viewer_client.post(url("queue", "email", "pause")).status_code == 403
    assert pauses.paused() == []


def test_unknown_names_actions_and_get_are_refused(operator_client, redis):
    assert operator_client.post(url("queue", "nope", "pause")).status_code == 404
    assert operator_client.post(url("handler", "test.add", "freeze")).status_code == 404
    assert operator_client.get(url("queue", "email", "pause")).status_code == 405
    assert pauses.paused() == []
