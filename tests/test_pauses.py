"""Pausing a queue or a handler: its jobs wait unrun, attempts unspent, and run once resumed."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs_app import pauses
from jobs_app.exceptions import NothingToPause
from jobs_app.models import Job
from jobs_app.registry import all_handlers
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)


def pause(kind: str, name: str, by: str = "") -> bool:
    return pauses.pause(kind, name, handlers=all_handlers(), by=by)


def resume(kind: str, name: str) -> bool:
    return pauses.resume(kind, name, handlers=all_handlers())


def test_a_pause_is_listed_with_since_and_by_and_a_second_pause_changes_nothing(redis):
    assert pause("queue", "email", by="alice") is True
    first = pauses.paused()
    assert pause("queue", "email", by="bob") is False
    assert pauses.paused() == first
    [held] = first
    assert (held.kind, held.name, held.by) == ("queue", "email", "alice")
    assert "queue 'email' paused since" in str(held)
    assert pauses.holding("email", "test.echo") == held
    assert pauses.holding("default", "test.add") is None
    assert resume("queue", "email") is True
    assert resume("queue", "email") is False
    assert pauses.paused() == []


def test_unknown_names_and_kinds_are_refused(redis):
    with pytest.raises(NothingToPause, match="No queue named 'nope'"):
        pause("queue", "nope")
    with pytest.raises(NothingToPause, match="No handler named 'nope'"):
        resume("handler", "nope")
    with pytest.raises(NothingToPause, match="queue or handler"):
        pause("worker", "default")
    assert pauses.paused() == []


@pytest.mark.parametrize(("kind", "name"), [("queue", "default"), ("handler", "test.add")])
def test_a_paused_job_waits_without_spending_an_attempt_then_runs_when_resumed(kind, name, redis, run_worker, make_due):
    pause(kind, name)
    job = handlers.add.enqueue(2, 3)
    other = handlers.echo.enqueue("not paused")
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.SCHEDULED, 0)
    assert not job.history.exists()  # the handler was not called
    assert Job.objects.get(pk=other.pk).state == Job.State.SUCCEEDED

    make_due(job)  # the recheck comes round again while still paused: it waits again
    run_worker(with_scheduler=True)
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.SCHEDULED, 0)

    resume(kind, name)
    make_due(job)
    run_worker(with_scheduler=True)
    job.refresh_from_db()
    assert (job.state, job.attempts, job.result) == (Job.State.SUCCEEDED, 1, 5)


def test_the_commands_pause_and_resume_and_check_queue_shows_it(redis, capsys):
    call_command("jobs_pause", "handler", "test.add")
    assert "Handler 'test.add' paused." in capsys.readouterr().out
    call_command("jobs_pause", "handler", "test.add")
    assert "already paused" in capsys.readouterr().out
    try:
        call_command("check_queue")
    except CommandError:
        pass  # no worker alive is a problem here; the listing is what this test reads
    output = capsys.readouterr().out
    assert "handler test.add" in output and "manage.py" in output
    try:
        call_command("check_queue", "--json")
    except CommandError:
        pass
    [listed] = json.loads(capsys.readouterr().out)["paused"]
    assert (listed["kind"], listed["name"], listed["by"]) == ("handler", "test.add", "manage.py")
    call_command("jobs_resume", "handler", "test.add")
    assert "Handler 'test.add' resumed." in capsys.readouterr().out
    with pytest.raises(CommandError, match="No queue named 'nope'"):
        call_command("jobs_pause", "queue", "nope")
