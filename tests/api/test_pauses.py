"""POST /api/jobs/queues/<name>/pause|resume and /api/jobs/handlers/<name>/pause|resume; health lists pauses."""

from __future__ import annotations

import pytest
from django.test import Client

from jobs_app import pauses

from .conftest import API

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("plural", "kind", "name"), [("queues", "queue", "email"), ("handlers", "handler", "test.add")]
)
def test_pause_then_resume(api, redis, plural, kind, name):
    response = api.post(f"{API}/{plural}/{name}/pause")
    assert response.status_code == 200
    body = response.json()
    assert (body["kind"], body["name"], body["paused"], body["changed"], body["by"]) == (kind, name, True, True, "ops")
    assert body["since"]
    assert api.post(f"{API}/{plural}/{name}/pause").json()["changed"] is False
    assert [(pause.kind, pause.name) for pause in pauses.paused()] == [(kind, name)]

    health = api.get(f"{API}/health").json()
    assert [(item["kind"], item["name"], item["by"]) for item in health["paused"]] == [(kind, name, "ops")]
    assert api.get(f"{API}/metrics").json()["paused"][0]["name"] == name

    response = api.post(f"{API}/{plural}/{name}/resume")
    assert response.json() == {"kind": kind, "name": name, "paused": False, "changed": True, "since": None, "by": None}
    assert pauses.paused() == []


@pytest.mark.parametrize("plural", ["queues", "handlers"])
def test_unknown_names_are_a_json_404(api, redis, plural):
    response = api.post(f"{API}/{plural}/nope/pause")
    assert response.status_code == 404
    assert "nope" in response.json()["error"]


def test_pausing_needs_the_retry_permission_and_a_post(viewer, redis):
    client = Client()
    client.force_login(viewer)
    assert client.post(f"{API}/queues/default/pause").status_code == 403
    assert Client().post(f"{API}/queues/default/pause").status_code == 401
    assert pauses.paused() == []


def test_get_is_not_allowed(api, redis):
    response = api.get(f"{API}/queues/default/pause")
    assert response.status_code == 405
    assert "POST" in response["Allow"]
