"""GET /api/jobs/<id>: everything about one job, with its attempt history."""

from __future__ import annotations

import uuid

import pytest

from jobs_app.models import JobAttempt
from tests.factories import JobAttemptFactory, JobFactory

from .conftest import API

pytestmark = pytest.mark.django_db


def test_shows_the_job_and_its_attempts_oldest_first(api):
    job = JobFactory(failed=True, idempotency_key="k1", result=None, traceback="Traceback ...")
    first = JobAttemptFactory(job=job, number=1, worker_name="w1")
    JobAttemptFactory(job=job, number=2, outcome=JobAttempt.Outcome.KILLED)
    body = api.get(f"{API}/{job.pk}").json()
    assert body["id"] == str(job.pk)
    assert body["state"] == "failed"
    assert body["idempotency_key"] == "k1"
    assert body["traceback"] == "Traceback ..."
    assert body["created_at"] == job.created_at.isoformat()
    assert body["backoff"] == job.backoff
    assert [attempt["number"] for attempt in body["history"]] == [1, 2]
    assert body["history"][0] == {
        "cycle": 1,
        "number": 1,
        "outcome": "failed",
        "started_at": first.started_at.isoformat(),
        "finished_at": first.finished_at.isoformat(),
        "duration": first.duration.total_seconds(),
        "error_type": "RuntimeError",
        "error_message": "boom",
        "traceback": "",
        "worker_name": "w1",
    }
    assert body["history"][1]["outcome"] == "killed"


def test_a_succeeded_job_shows_its_result(api):
    job = JobFactory(succeeded=True)
    body = api.get(f"{API}/{job.pk}").json()
    assert (body["state"], body["result"], body["history"]) == ("succeeded", 3, [])


def test_unknown_job_is_404(api):
    missing = uuid.uuid4()
    response = api.get(f"{API}/{missing}")
    assert response.status_code == 404
    assert response.json() == {"error": f"Job '{missing}' not found"}


@pytest.mark.parametrize("job_id", ["not-a-uuid", "123", "%00", "ünïcode"])
def test_an_id_that_is_not_a_uuid_is_404(api, job_id):
    response = api.get(f"{API}/{job_id}")
    assert response.status_code == 404
    assert "not found" in response.json()["error"]
