"""Bulk retry and cancel from the lists: the rows, RQ and the message the operator reads."""

from __future__ import annotations

import dataclasses

import pytest
from django.contrib.admin.models import LogEntry

from jobs_app import services, transport
from jobs_app.admin import jobs as job_admin
from jobs_app.models import Job
from tests.factories import JobFactory

from .conftest import messages_of, post_action

pytestmark = pytest.mark.django_db


def rq_ids(queue: str = "default") -> set[str]:
    return set(transport.rq_queue(queue).job_ids)


def test_retry_selected_requeues_failed_and_dead_jobs_and_skips_the_rest(
    operator_client, django_capture_on_commit_callbacks
):
    failed, dead = JobFactory(failed=True), JobFactory(dead=True)
    succeeded = JobFactory(succeeded=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(operator_client, "job", "retry_selected", [failed, dead, succeeded])

    assert messages_of(response) == [
        "Retried 2 jobs. Skipped 1 job: only failed, dead or cancelled jobs can be retried."
    ]
    for job in (failed, dead):
        job.refresh_from_db()
        assert (job.state, job.attempts, job.cycle) == (Job.State.QUEUED, 0, 2)
    succeeded.refresh_from_db()
    assert succeeded.state == Job.State.SUCCEEDED
    assert rq_ids() == {str(failed.pk), str(dead.pk)}


def test_the_audit_names_exactly_the_jobs_the_retry_changed_when_another_retry_gets_one_first(
    operator_client, monkeypatch, django_capture_on_commit_callbacks
):
    """Issue 15, defect 6: a job re-run by someone else (an API retry) between the operator's click
    and the service's own selection is neither counted nor logged as the operator's."""
    first, second = JobFactory(failed=True), JobFactory(failed=True)

    def rerun_after_a_concurrent_retry(queryset):
        services.rerun(Job.objects.filter(pk=first.pk))  # the API's retry, just before the admin's
        return services.rerun(queryset)

    monkeypatch.setattr(
        job_admin, "RETRY", dataclasses.replace(job_admin.RETRY, service=rerun_after_a_concurrent_retry)
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(operator_client, "job", "retry_selected", [first, second])

    assert messages_of(response) == [
        "Retried 1 job. Skipped 1 job: only failed, dead or cancelled jobs can be retried."
    ]
    audited = list(LogEntry.objects.filter(change_message=job_admin.RETRY_MESSAGE).values_list("object_id", flat=True))
    assert audited == [str(second.pk)]
    assert Job.objects.get(pk=first.pk).cycle == 2  # re-run once, by the other retry


def test_retry_from_the_failed_list_across_all_pages(operator_client, django_capture_on_commit_callbacks):
    jobs = JobFactory.create_batch(120, failed=True)  # more than one page of 50
    JobFactory(succeeded=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(operator_client, "failedjob", "retry_selected", jobs[:1], select_across=True)

    assert messages_of(response) == ["Retried 120 jobs."]
    assert Job.objects.filter(state=Job.State.QUEUED).count() == 120
    assert len(rq_ids()) == 120


def test_retry_across_all_pages_asks_first_and_changes_nothing_until_confirmed(operator_client):
    jobs = JobFactory.create_batch(60, failed=True)
    response = post_action(operator_client, "failedjob", "retry_selected", jobs[:1], select_across=True, confirm=False)

    assert response.status_code == 200
    assert response.templates[0].name == "admin/jobs_app/confirm_action.html"
    page = response.content.decode()
    assert "You are about to retry 60 jobs" in page
    assert 'name="post" value="yes"' in page
    assert set(Job.objects.values_list("state", flat=True)) == {Job.State.FAILED}
    assert rq_ids() == set()


def test_retry_with_nothing_retryable_says_so(operator_client):
    queued = JobFactory()
    response = post_action(operator_client, "job", "retry_selected", [queued])
    assert messages_of(response) == [
        "Retried 0 jobs. Skipped 1 job: only failed, dead or cancelled jobs can be retried."
    ]
    assert response.context["messages"]._loaded_messages[0].level_tag == "warning"


def test_cancel_selected_cancels_waiting_jobs_and_takes_them_off_rq(
    operator_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        queued = JobFactory()
        transport.push([transport.Dispatch(job_id=str(queued.pk), handler=queued.handler, queue="default")])
        scheduled = JobFactory(state=Job.State.SCHEDULED)
        running = JobFactory(state=Job.State.RUNNING, attempts=1)
        failed = JobFactory(failed=True)
    assert rq_ids() == {str(queued.pk)}

    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(operator_client, "job", "cancel_selected", [queued, scheduled, running, failed])

    assert messages_of(response) == [
        "Cancelled 2 jobs. Skipped 2 jobs: only scheduled or queued jobs can be cancelled."
    ]
    states = dict(Job.objects.values_list("pk", "state"))
    assert states[queued.pk] == states[scheduled.pk] == Job.State.CANCELLED
    assert (states[running.pk], states[failed.pk]) == (Job.State.RUNNING, Job.State.FAILED)
    assert rq_ids() == set()


def test_a_cancelled_job_can_be_retried(operator_client, django_capture_on_commit_callbacks):
    job = JobFactory(state=Job.State.CANCELLED)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(operator_client, "job", "retry_selected", [job])
    assert messages_of(response) == ["Retried 1 job."]
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED


def test_the_failed_list_offers_no_cancel(operator_client):
    response = operator_client.get("/admin/jobs_app/failedjob/")
    choices = [value for value, _label in response.context["action_form"].fields["action"].choices]
    assert choices == ["", "retry_selected"]
