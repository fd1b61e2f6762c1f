"""The commands: retry_failed, check_queue and purge_jobs, as an operator runs them."""

import json
import signal
import subprocess
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs_app.models import Job, JobAttempt
from jobs_app.worker import SimpleWorker
from tests.factories import JobAttemptFactory, JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# retry_failed


def test_retry_failed_once_prints_one_summary_line(ago):
    JobFactory.create_batch(2, failed=True, failed_at=ago(hours=1))
    JobFactory(failed=True, auto_retries=3, failed_at=ago(hours=1))
    output = run("retry_failed", "--once")
    assert output.splitlines() == [
        "scanned 3 failed job(s): retried 2, moved 1 to dead, skipped 0; repaired 0",
    ]


def test_retry_failed_json_has_the_counts(ago):
    JobFactory(failed=True, failed_at=ago(hours=1))
    JobFactory(needs_push=True)
    report = json.loads(run("retry_failed", "--once", "--json"))
    assert {key: report[key] for key in ("scanned", "retried", "dead", "repaired", "skipped")} == {
        "scanned": 1,
        "retried": 1,
        "dead": 0,
        "repaired": 1,
        "skipped": 0,
    }


def test_retry_failed_options_reach_the_pass(ago):
    recent = JobFactory(failed=True, failed_at=ago(seconds=10), queue="email", handler="test.echo")
    other = JobFactory(failed=True, failed_at=ago(seconds=10))
    output = run("retry_failed", "--once", "--delay", "5", "--queue", "email", "--queue", "cleanup", "--limit", "5")
    assert "retried 1" in output
    recent.refresh_from_db()
    other.refresh_from_db()
    assert (recent.state, other.state) == (Job.State.QUEUED, Job.State.FAILED)


def test_retry_failed_dry_run_says_what_it_would_do(ago):
    job = JobFactory(failed=True, failed_at=ago(hours=1))
    output = run("retry_failed", "--once", "--dry-run", "--max-retries", "0")
    assert output.startswith("Dry run: scanned 1 failed job(s): would retry 0, would move 1 to dead")
    job.refresh_from_db()
    assert job.state == Job.State.FAILED


def test_retry_failed_refuses_bad_options():
    with pytest.raises(CommandError, match="--max-retries"):
        run("retry_failed", "--once", "--max-retries", "-1")
    with pytest.raises(CommandError):
        run("retry_failed", "--once", "--delay", "soon")


@pytest.mark.subprocess
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_retry_failed_runs_until_sigterm_or_sigint_and_exits_0(signum, subprocess_env, manage_py, ago):
    JobFactory(failed=True, failed_at=ago(hours=1))
    sweeper = subprocess.Popen(
        [*manage_py, "retry_failed", "--interval", "3600", "--json"],
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_pass = json.loads(sweeper.stdout.readline())
        sweeper.send_signal(signum)
        assert sweeper.wait(timeout=30) == 0
    finally:
        if sweeper.poll() is None:
            sweeper.kill()
    assert first_pass["retried"] == 1


# check_queue


@pytest.mark.usefixtures("redis")
def test_check_queue_shows_a_table_per_queue():
    JobFactory.create_batch(2, failed=True)
    JobFactory(succeeded=True, queue="email", handler="test.echo")
    # The queues' table; the recurring jobs' table follows after a blank line.
    lines = run("check_queue").split("\n\n")[0].splitlines()
    assert lines[0].split() == ["queue", "waiting", "scheduled", "running", "succeeded", "failed", "dead", "workers"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert set(rows) == {"cleanup", "default", "email", "notification"}
    assert rows["default"] == ["0", "0", "0", "0", "2", "0", "0"]
    assert rows["email"][3] == "1"


def test_check_queue_exits_1_when_waiting_jobs_have_no_worker(redis):
    JobFactory(queue="email", handler="test.echo")
    out = StringIO()
    with pytest.raises(CommandError, match=r"No worker alive for queue.*email") as raised:
        call_command("check_queue", "--json", stdout=out)
    assert raised.value.returncode == 1
    report = json.loads(out.getvalue())
    assert report["queues"]["email"]["waiting"] == 1
    assert report["queues_without_workers"] == ["email"]

    worker = SimpleWorker(["email"], connection=redis, name="email-worker")
    worker.register_birth()
    try:
        assert json.loads(run("check_queue", "--json"))["queues"]["email"]["workers"] == 1
    finally:
        worker.register_death()


@pytest.mark.subprocess
def test_check_queue_is_a_probe_with_exit_status(subprocess_env, manage_py, redis):
    assert subprocess.run([*manage_py, "check_queue"], env=subprocess_env, capture_output=True).returncode == 0
    JobFactory()
    probe = subprocess.run([*manage_py, "check_queue"], env=subprocess_env, capture_output=True, text=True)
    assert probe.returncode == 1
    assert "default" in probe.stderr


# purge_jobs


def test_purge_jobs_deletes_finished_jobs_past_retention_with_their_attempts(ago):
    old_succeeded = JobFactory(succeeded=True, finished_at=ago(days=8))
    JobAttemptFactory(job=old_succeeded, outcome=JobAttempt.Outcome.SUCCEEDED)
    kept = [
        JobFactory(succeeded=True, finished_at=ago(days=6)),
        JobFactory(dead=True, finished_at=ago(days=29)),
        JobFactory(failed=True, finished_at=ago(days=90)),  # unfinished: never purged
        JobFactory(state=Job.State.QUEUED, created_at=ago(days=90)),
    ]
    JobFactory(dead=True, finished_at=ago(days=31))
    JobFactory(state=Job.State.CANCELLED, created_at=ago(days=31))

    assert run("purge_jobs") == "Deleted 3 finished job(s): 1 succeeded, 1 dead, 1 cancelled\n"
    assert set(Job.objects.values_list("pk", flat=True)) == {job.pk for job in kept}
    assert not JobAttempt.objects.filter(job_id=old_succeeded.pk).exists()


def test_purge_jobs_older_than_and_dry_run(ago):
    JobFactory(succeeded=True, finished_at=ago(hours=3))
    JobFactory(dead=True, finished_at=ago(hours=1))
    assert run("purge_jobs", "--older-than", "2h", "--dry-run").startswith("Would delete 1 finished job(s)")
    assert Job.objects.count() == 2
    assert json.loads(run("purge_jobs", "--older-than", "30m", "--json"))["deleted"]["dead"] == 1
    assert Job.objects.count() == 0


@pytest.mark.parametrize("value", ["14", "2w", "-1d", "d"])
def test_purge_jobs_refuses_a_bad_age(value):
    with pytest.raises(CommandError, match="older-than"):
        run("purge_jobs", "--older-than", value)


def test_purge_jobs_works_in_batches(ago):
    from jobs_app.retention import purge

    JobFactory.create_batch(7, succeeded=True, finished_at=ago(days=8))
    assert purge(batch_size=3)["succeeded"] == 7
    assert not Job.objects.exists()


def test_parse_duration():
    from jobs_app.retention import parse_duration

    assert parse_duration("14d") == timedelta(days=14)
    assert parse_duration("45s") == timedelta(seconds=45)
