"""POST /api/jobs/<id>/retry and POST /api/jobs/retry-all-failed: re-runs through the bulk service."""

from __future__ import annotations

import uuid

import pytest

from jobs_app import transport
from jobs_app.models import Job
from tests.factories import JobFactory

from .conftest import API


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("trait", ["failed", "dead"])
def test_retry_queues_the_job_again_and_pushes_it_to_rq(api, redis, trait):
    job = JobFactory(**{trait: True})
    response = api.post(f"{API}/{job.pk}/retry")
    assert response.status_code == 202
    assert response.json() == {"message": f"Job '{job.pk}' has been queued for retry", "job_id": str(job.pk)}
    job.refresh_from_db()
    assert (job.state, job.cycle, job.attempts) == (Job.State.QUEUED, 2, 0)
    assert transport.rq_queue("default").job_ids == [str(job.pk)]


@pytest.mark.django_db
def test_retry_of_a_cancelled_job_is_accepted(api):
    job = JobFactory(state=Job.State.CANCELLED)
    response = api.post(f"{API}/{job.pk}/retry")
    assert response.status_code == 202
    assert response.json() == {"message": f"Job '{job.pk}' has been queued for retry", "job_id": str(job.pk)}
    job.refresh_from_db()
    assert (job.state, job.cycle, job.attempts) == (Job.State.QUEUED, 2, 0)


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["succeeded", "queued", "running", "scheduled"])
def test_retry_of_a_job_that_has_not_failed_is_400(api, state):
    job = JobFactory(state=state)
    response = api.post(f"{API}/{job.pk}/retry")
    assert response.status_code == 400
    assert response.json() == {
        "error": f"Job {job.pk} cannot be retried: it is not failed, dead or cancelled. Current state: {state}"
    }
    job.refresh_from_db()
    assert (job.state, job.cycle) == (state, 1)


@pytest.mark.django_db
@pytest.mark.parametrize("job_id", [uuid.uuid4(), "nope"])
def test_retry_of_an_unknown_job_is_404(api, job_id):
    other = JobFactory(failed=True)
    response = api.post(f"{API}/{job_id}/retry")
    assert response.status_code == 404
    assert response.json() == {"error": f"Job '{job_id}' not found"}
    other.refresh_from_db()
    assert (other.state, other.cycle) == (Job.State.FAILED, 1)


@pytest.mark.django_db
def test_retry_is_post_only(api):
    job = JobFactory(failed=True)
    response = api.get(f"{API}/{job.pk}/retry")
    assert response.status_code == 405
    assert response.json() == {"error": "Method GET not allowed"}
    assert response["Allow"] == "POST, OPTIONS"
    job.refresh_from_db()
    assert (job.state, job.cycle) == (Job.State.FAILED, 1)


@pytest.mark.django_db(transaction=True)
def test_retry_all_failed_without_a_body_reruns_every_failed_job(api, redis):
    failed = [JobFactory(failed=True) for _ in range(3)]
    dead = JobFactory(dead=True)
    response = api.generic("POST", f"{API}/retry-all-failed")  # no body at all, as `curl -X POST` sends
    assert response.status_code == 200
    assert response.json() == {"message": "Retry operation complete", "retried": 3, "skipped": 0, "total": 3}
    assert set(Job.objects.filter(state=Job.State.QUEUED).values_list("pk", flat=True)) == {j.pk for j in failed}
    assert Job.objects.get(pk=dead.pk).state == Job.State.DEAD
    assert sorted(transport.rq_queue("default").job_ids) == sorted(str(j.pk) for j in failed)


@pytest.mark.django_db
def test_retry_all_failed_filters_by_queue_handler_and_state(api):
    wanted = JobFactory(dead=True, queue="email", handler="email.send")
    others = [
        JobFactory(dead=True, queue="email", handler="email.other"),
        JobFactory(dead=True, queue="default", handler="email.send"),
        JobFactory(failed=True, queue="email", handler="email.send"),
    ]
    response = api.post(
        f"{API}/retry-all-failed",
        {"queue": "email", "handler": "email.send", "state": "dead"},
        content_type="application/json",
    )
    assert response.json() == {"message": "Retry operation complete", "retried": 1, "skipped": 0, "total": 1}
    assert Job.objects.get(pk=wanted.pk).state == Job.State.QUEUED
    assert [Job.objects.get(pk=job.pk).state for job in others] == ["dead", "dead", "failed"]


@pytest.mark.django_db
def test_retry_all_failed_with_nothing_to_do(api):
    waiting = JobFactory(state=Job.State.QUEUED)
    response = api.post(f"{API}/retry-all-failed", {}, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"message": "Retry operation complete", "retried": 0, "skipped": 0, "total": 0}
    waiting.refresh_from_db()
    assert (waiting.state, waiting.cycle) == (Job.State.QUEUED, 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("{not json", "Malformed JSON body"),
        (b"\xff\xfe\x00", "Malformed JSON body"),
        ("[1, 2]", "The JSON body must be an object"),
        ("null", "The JSON body must be an object"),
        ('{"queue": 5}', "'queue' must be a string"),
        ('{"state": "succeeded"}', "'state' must be one of: failed, dead"),
        ('{"state": ["dead"]}', "'state' must be one of: failed, dead"),
        ('{"everything": true}', "Unknown field(s): everything"),
        ("[" * 100_000, "Malformed JSON body"),
    ],
)
def test_retry_all_failed_rejects_a_bad_body_with_400(api, body, error):
    job = JobFactory(failed=True)
    response = api.post(f"{API}/retry-all-failed", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert Job.objects.get(pk=job.pk).state == Job.State.FAILED


@pytest.mark.django_db
def test_retry_all_failed_is_post_only(api):
    job = JobFactory(failed=True)
    response = api.get(f"{API}/retry-all-failed")
    assert response.status_code == 405
    assert response.json()["error"] == "Method GET not allowed"
    job.refresh_from_db()
    assert (job.state, job.cycle) == (Job.State.FAILED, 1)
