"""Counters and pauses in real worker processes: two at once, then a restart, all through one Redis."""

from __future__ import annotations

import subprocess

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from jobs_app import pauses
from jobs_app.api.tokens import issue_token
from jobs_app.models import Job
from jobs_app.registry import all_handlers
from tests.testapp import handlers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]


@pytest.fixture
def workers(subprocess_env, manage_py):
    """Run one burst worker process per queue list, all at once, each to the end."""

    def run(*queue_lists: tuple[str, ...]) -> list[str]:
        processes = [
            subprocess.Popen(
                [*manage_py, "rqworker", *queues, "--burst", "--with-scheduler"],
                env=subprocess_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for queues in queue_lists
        ]
        outputs = [process.communicate(timeout=120)[0] for process in processes]
        assert [process.returncode for process in processes] == [0] * len(processes), outputs
        return outputs

    return run


@pytest.fixture
def scrape(django_user_model):
    user = django_user_model.objects.create_user("prometheus", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_job", content_type__app_label="jobs_app"))
    client = Client(headers={"Authorization": f"Bearer {issue_token(user, name='scrape')[1]}"})

    def scrape() -> dict[tuple, float]:
        response = client.get("/api/jobs/metrics/prometheus")
        assert response.status_code == 200, response.content
        return {
            (sample.name, *sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples
        }

    return scrape


SUCCEEDED = ("jobs_app_attempts_total", ("handler", "test.add"), ("outcome", "succeeded"))
FAILED = ("jobs_app_attempts_total", ("handler", "test.permanent"), ("outcome", "failed"))
COUNT = ("jobs_app_attempt_duration_seconds_count", ("handler", "test.add"))


def test_counters_sum_two_worker_processes_survive_a_restart_and_the_purge(redis, workers, scrape):
    # One worker process per queue, so that both surely run some of the same handler's jobs.
    for n in range(3):
        handlers.add.enqueue(n, n)
    for n in range(2):
        handlers.add.using(queue="email").enqueue(n, n)
    handlers.permanent.enqueue()
    outputs = workers(("default",), ("email",))
    assert set(Job.objects.values_list("state", flat=True)) == {Job.State.SUCCEEDED, Job.State.DEAD}, outputs
    assert len(set(Job.objects.filter(handler="test.add").values_list("worker_name", flat=True))) == 2
    first = scrape()
    assert (first[SUCCEEDED], first[FAILED], first[COUNT]) == (5, 1, 5)

    # A restart: new worker processes; the purge deletes the rows, not the counts.
    Job.objects.all().delete()
    for n in range(2):
        handlers.add.enqueue(n, n)
    workers(("default",))
    second = scrape()
    assert (second[SUCCEEDED], second[FAILED], second[COUNT]) == (7, 1, 7)


def test_a_pause_holds_jobs_on_two_worker_processes_until_resumed(redis, workers, make_due):
    pauses.pause(pauses.QUEUE, "default", handlers=all_handlers(), by="test")
    pauses.pause(pauses.HANDLER, "test.echo", handlers=all_handlers(), by="test")
    held = [
        handlers.add.enqueue(1, 1),
        handlers.add.enqueue(2, 2),
        handlers.echo.enqueue("a"),
        handlers.echo.enqueue("b"),
    ]
    running = handlers.add.using(queue="email").enqueue(3, 3)  # on the email queue: not paused

    outputs = workers(("default",), ("email",))

    assert all("Deferred: " in output for output in outputs), outputs
    for job in held:
        job.refresh_from_db()
        assert (job.state, job.attempts) == (Job.State.SCHEDULED, 0)
        assert not job.history.exists()
    assert Job.objects.get(pk=running.pk).state == Job.State.SUCCEEDED

    pauses.resume(pauses.QUEUE, "default", handlers=all_handlers())
    pauses.resume(pauses.HANDLER, "test.echo", handlers=all_handlers())
    for job in held:
        make_due(job)  # instead of waiting PAUSE_RECHECK seconds
    workers(("default",), ("email",))

    for job in held:
        job.refresh_from_db()
        assert (job.state, job.attempts) == (Job.State.SUCCEEDED, 1)
