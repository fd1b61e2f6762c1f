"""GET /api/jobs/failed: failed (or dead) jobs, newest failure first, filtered and paged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import JobFactory

from .conftest import API

pytestmark = pytest.mark.django_db


def ago(minutes: int):
    return timezone.now() - timedelta(minutes=minutes)


def test_lists_failed_jobs_newest_failure_first_with_their_fields(api):
    older = JobFactory(failed=True, failed_at=ago(30), args=["a"], kwargs={"to": "x"})
    newer = JobFactory(failed=True, failed_at=ago(5), auto_retries=2)
    JobFactory(dead=True)
    JobFactory(succeeded=True)
    body = api.get(f"{API}/failed").json()
    assert body["count"] == 2
    assert (body["limit"], body["offset"], body["state"]) == (50, 0, "failed")
    assert [job["id"] for job in body["results"]] == [str(newer.pk), str(older.pk)]
    assert body["results"][1] == {
        "id": str(older.pk),
        "handler": "test.add",
        "queue": "default",
        "state": "failed",
        "args": ["a"],
        "kwargs": {"to": "x"},
        "error_type": "RuntimeError",
        "error_message": "boom",
        "failed_at": older.failed_at.isoformat(),
        "attempts": 3,
        "max_attempts": 3,
        "auto_retries": 0,
    }
    assert body["results"][0]["auto_retries"] == 2


def test_state_dead_is_the_dead_letter(api):
    dead = JobFactory(dead=True)
    JobFactory(failed=True)
    body = api.get(f"{API}/failed", {"state": "dead"}).json()
    assert [job["id"] for job in body["results"]] == [str(dead.pk)]
    assert body["state"] == "dead"


def test_filters_by_queue_and_handler(api):
    wanted = JobFactory(failed=True, queue="email", handler="email.send")
    JobFactory(failed=True, queue="email", handler="email.other")
    JobFactory(failed=True, queue="default", handler="email.send")
    body = api.get(f"{API}/failed", {"queue": "email", "handler": "email.send"}).json()
    assert [job["id"] for job in body["results"]] == [str(wanted.pk)]
    # Empty filters mean no filter.
    assert api.get(f"{API}/failed", {"queue": "", "handler": ""}).json()["count"] == 3


def test_pages_with_limit_and_offset(api):
    jobs = [JobFactory(failed=True, failed_at=ago(minutes)) for minutes in range(5)]
    body = api.get(f"{API}/failed", {"limit": 2, "offset": 1}).json()
    assert [job["id"] for job in body["results"]] == [str(jobs[1].pk), str(jobs[2].pk)]
    assert body["count"] == 5
    assert api.get(f"{API}/failed", {"offset": 10}).json()["results"] == []


@pytest.mark.parametrize(
    "limit", ["0", "501", "-1", "ten", "1.5", "", "1e3", " 5", "\u0665"]
)  # the last: an Arabic-Indic five
def test_limit_outside_1_to_500_is_400(api, limit):
    response = api.get(f"{API}/failed", {"limit": limit})
    if limit == "":
        assert response.status_code == 200  # empty means the default
        return
    assert response.status_code == 400
    assert response.json() == {"error": "'limit' must be an integer from 1 to 500"}


@pytest.mark.parametrize("limit", ["1", "500"])
def test_limit_bounds_are_accepted(api, limit):
    assert api.get(f"{API}/failed", {"limit": limit}).json()["limit"] == int(limit)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"offset": "-3"}, "'offset' must be an integer from 0 to 1000000000"),
        ({"offset": "99999999999999999999"}, "'offset' must be an integer from 0 to 1000000000"),
        ({"state": "succeeded"}, "'state' must be one of: failed, dead"),
        ({"queue": "x" * 201}, "'queue' must be at most 200 printable characters"),
        ({"handler": "a\x00b"}, "'handler' must be at most 200 printable characters"),
    ],
)
def test_invalid_parameters_are_400(api, params, error):
    response = api.get(f"{API}/failed", params)
    assert response.status_code == 400
    assert response.json() == {"error": error}
