"""Two sweepers, the admin's bulk retry and the API's retry-all, all at the same moment on their own
database connections: each job gets exactly one new cycle and is pushed to RQ once."""

import threading
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs_app.admin.jobs import RETRY_MESSAGE
from jobs_app.api.tokens import issue_token
from jobs_app.models import Job, JobAttempt
from jobs_app.sweeper import SweepOptions, sweep
from tests.factories import JobAttemptFactory, JobFactory
from tests.faults.consistency import assert_consistent

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def race(*actions):
    """Run every action at once, each in a thread of its own (so on a database connection of its own)."""
    barrier = threading.Barrier(len(actions))
    results, errors = {}, []

    def run(name, action):
        try:
            barrier.wait(timeout=30)
            results[name] = action()
        except Exception as error:  # reported by the test, not lost in the thread
            errors.append((name, error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a racer hung"
    assert not errors, errors
    return results


def test_two_sweepers_an_admin_bulk_retry_and_the_api_retry_all_re_run_each_job_once(rq_redis, run_worker):
    long_ago = timezone.now() - timedelta(hours=1)
    failed = JobFactory.create_batch(400, failed=True, attempts=1, failed_at=long_ago)
    dead = JobFactory.create_batch(100, dead=True, failed_at=long_ago)
    for job in [*failed, *dead]:
        JobAttemptFactory(job=job, number=1)
    admin = User.objects.create_superuser("admin", password="pw")
    token = issue_token(admin, name="faults")[1]

    def admin_bulk_retry():
        client = Client()
        client.force_login(admin)
        response = client.post(
            reverse("admin:jobs_app_failedjob_changelist"),
            {
                "action": "retry_selected",
                "select_across": "1",
                "index": "0",
                "post": "yes",  # the answer to "Are you sure?"
                "_selected_action": [str(failed[0].pk)],
            },
        )
        assert response.status_code == 302
        return response

    def api_retry_all():
        client = Client(headers={"Authorization": f"Bearer {token}"})
        response = client.post("/api/jobs/retry-all-failed", "{}", content_type="application/json")
        assert response.status_code == 200
        return response.json()["retried"]

    def sweeper():
        return sweep(SweepOptions(batch_size=50, repair=False)).retried

    results = race(sweeper, sweeper, admin_bulk_retry, api_retry_all)

    # Every failed and dead job is re-run once, by whichever got it first: one new cycle each.
    assert set(Job.objects.values_list("state", "cycle", "attempts")) == {(Job.State.QUEUED, 2, 0)}
    sweeper_and_api = results[0] + results[1] + results[3]
    assert sweeper_and_api <= 500
    # Issue 15, defect 6: the admin's audit names exactly the jobs its retry changed, each once.
    audited = list(LogEntry.objects.filter(change_message=RETRY_MESSAGE).values_list("object_id", flat=True))
    assert len(audited) == len(set(audited)) == 500 - sweeper_and_api
    assert set(audited) <= {str(job.pk) for job in [*failed, *dead]}
    pushed = rq_redis.lrange("rq:queue:default", 0, -1)
    assert len(pushed) == len(set(pushed)) == 500
    assert_consistent(final=False)

    run_worker("default")
    assert set(Job.objects.values_list("state", flat=True)) == {Job.State.SUCCEEDED}
    assert JobAttempt.objects.filter(cycle=2).count() == 500
    assert_consistent()
