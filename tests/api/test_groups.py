"""/api/jobs/failure-groups: the list, one group, and retry at a rate, resolve, mute, unmute, dead."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from jobs_app.api.tokens import issue_token
from jobs_app.models import FailureGroup, Job
from tests.factories import FailureGroupFactory, JobFactory

from .conftest import API

pytestmark = pytest.mark.django_db
GROUPS = f"{API}/failure-groups"
# Besides retry: move to dead, and resolve or mute.
TRIAGE = ["dead_letter_job", "change_failuregroup"]


@pytest.fixture(autouse=True)
def _may_triage(staff):
    staff.user_permissions.add(*Permission.objects.filter(codename__in=TRIAGE, content_type__app_label="jobs_app"))


@pytest.fixture
def upstream():
    group = FailureGroupFactory(handler="test.add", sample_traceback="Traceback...\nUpstream: 502")
    JobFactory.create_batch(3, failed=True, fingerprint=group.pk)
    JobFactory(dead=True, fingerprint=group.pk)
    return group


@pytest.fixture
def muted():
    return FailureGroupFactory(handler="test.echo", status="muted", last_seen=datetime(2030, 1, 1).astimezone())


def post(api, url, body=None):
    return api.post(url, json.dumps(body) if body is not None else "", content_type="application/json")


def test_the_list_is_last_seen_first_with_counts(api, upstream, muted):
    body = api.get(GROUPS).json()
    assert body["count"] == 2
    assert [group["fingerprint"] for group in body["results"]] == [muted.pk, upstream.pk]
    assert body["results"][1] | {"first_seen": None, "last_seen": None} == {
        "fingerprint": upstream.pk,
        "handler": "test.add",
        "error_type": "shop.errors.Upstream",
        "message": "upstream returned <n>",
        "frame": "",
        "first_seen": None,
        "last_seen": None,
        "occurrences": 3,
        "jobs": 4,
        "status": "open",
        "regressed": False,
        "sample_job_id": None,
    }


def test_the_list_filters_and_pages(api, upstream, muted):
    assert [g["fingerprint"] for g in api.get(GROUPS, {"status": "muted"}).json()["results"]] == [muted.pk]
    assert [g["fingerprint"] for g in api.get(GROUPS, {"handler": "test.add"}).json()["results"]] == [upstream.pk]
    page = api.get(GROUPS, {"limit": 1, "offset": 1}).json()
    assert (page["count"], [g["fingerprint"] for g in page["results"]]) == (2, [upstream.pk])


@pytest.mark.parametrize("query", [{"status": "closed"}, {"limit": 0}, {"offset": -1}, {"handler": "x" * 201}])
def test_bad_list_parameters_are_400_json(api, query):
    response = api.get(GROUPS, query)
    assert response.status_code == 400 and "error" in response.json()


def test_one_group_with_its_sample_and_job_ids(api, upstream):
    body = api.get(f"{GROUPS}/{upstream.pk}").json()
    assert body["sample_traceback"] == "Traceback...\nUpstream: 502"
    assert sorted(body["job_ids"]) == sorted(str(pk) for pk in Job.objects.values_list("pk", flat=True))
    assert body["jobs"] == 4


@pytest.mark.parametrize("fingerprint", ["0123456789abcdef", "nope", "x" * 300])
def test_an_unknown_group_is_404_json(api, fingerprint):
    for response in (api.get(f"{GROUPS}/{fingerprint}"), post(api, f"{GROUPS}/{fingerprint}/retry")):
        assert response.status_code == 404
        assert response.json() == {"error": f"Failure group '{fingerprint}' not found"}


def test_retry_at_a_rate_is_202_with_when_the_last_runs(api, upstream, redis):
    response = post(api, f"{GROUPS}/{upstream.pk}/retry", {"rate": 2})
    assert response.status_code == 202
    body = response.json()
    assert (body["retried"], body["rate"]) == (4, 2.0)
    times = sorted(Job.objects.filter(state="scheduled").values_list("scheduled_for", flat=True))
    assert datetime.fromisoformat(body["last_run_at"]) == times[-1] == times[0] + timedelta(seconds=1.5)


def test_retry_without_a_body_uses_the_default_rate(api, upstream, redis):
    assert post(api, f"{GROUPS}/{upstream.pk}/retry").json()["rate"] == 10


def test_a_group_with_nothing_to_retry_is_400(api, upstream, redis):
    post(api, f"{GROUPS}/{upstream.pk}/retry")
    response = post(api, f"{GROUPS}/{upstream.pk}/retry")
    assert response.status_code == 400
    assert response.json() == {"error": f"Failure group '{upstream.pk}' has no failed or dead jobs to retry"}


@pytest.mark.parametrize("body", [{"rate": 0}, {"rate": "fast"}, {"rate": True}, {"speed": 1}, [1]])
def test_a_bad_retry_body_is_400(api, upstream, body):
    response = post(api, f"{GROUPS}/{upstream.pk}/retry", body)
    assert response.status_code == 400 and "error" in response.json()
    assert not Job.objects.filter(state="scheduled").exists()


def test_resolve_mute_unmute_and_dead_answer_the_group(api, upstream):
    assert post(api, f"{GROUPS}/{upstream.pk}/resolve").json()["status"] == "resolved"
    assert post(api, f"{GROUPS}/{upstream.pk}/mute").json()["status"] == "muted"
    assert post(api, f"{GROUPS}/{upstream.pk}/unmute").json()["status"] == "open"
    body = post(api, f"{GROUPS}/{upstream.pk}/dead").json()
    assert body["jobs"] == 4
    assert set(Job.objects.values_list("state", flat=True)) == {"dead"}
    assert FailureGroup.objects.get().status == "open"


def test_actions_are_post_only_and_need_permissions(api, upstream, viewer):
    assert api.get(f"{GROUPS}/{upstream.pk}/mute").status_code == 405
    client = Client(headers={"Authorization": f"Bearer {issue_token(viewer, name='v')[1]}"})
    assert client.get(GROUPS).status_code == 200
    for action in ("retry", "resolve", "mute", "unmute", "dead"):
        response = client.post(f"{GROUPS}/{upstream.pk}/{action}")
        assert response.status_code == 403 and "error" in response.json()
    assert FailureGroup.objects.get().status == "open"


def test_no_credentials_is_401_json(client, upstream):
    response = client.get(GROUPS)
    assert response.status_code == 401 and "error" in response.json()
