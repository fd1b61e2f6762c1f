"""Acting on a failure group: retry at a rate, move to dead, resolve, mute; the jobs count stays right."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rq.registry import ScheduledJobRegistry

from jobs_app import group_actions, groups, services, transport
from jobs_app.models import FailureGroup, Job
from tests.factories import FailureGroupFactory, JobFactory


@pytest.fixture
def group(db):
    group = FailureGroupFactory()
    JobFactory.create_batch(4, failed=True, fingerprint=group.pk)
    JobFactory.create_batch(2, dead=True, fingerprint=group.pk)
    JobFactory(succeeded=True, fingerprint=group.pk)  # failed once, then succeeded: not the group's any more
    JobFactory(failed=True)  # another cause
    return group


def scheduled_times(group: FailureGroup) -> list:
    return list(
        Job.objects.filter(fingerprint=group.pk, state=Job.State.SCHEDULED)
        .order_by("pk")
        .values_list("scheduled_for", flat=True)
    )


def scheduled_in_rq(redis) -> set[str]:
    return {
        job_id
        for name in transport.rq_queue_names("default")
        for job_id in ScheduledJobRegistry(name, connection=redis).get_job_ids()
    }


@pytest.mark.django_db
def test_retry_at_a_rate_schedules_the_jobs_that_far_apart(group, redis, django_capture_on_commit_callbacks):
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        result = group_actions.retry([group.pk], rate=2, now=now)
    assert (result.retried, result.rate) == (6, 2.0)
    times = scheduled_times(group)
    assert times == [now + timedelta(seconds=index / 2) for index in range(6)]
    assert result.last_run_at == times[-1] == now + timedelta(seconds=2.5)
    assert Job.objects.filter(fingerprint=group.pk, state=Job.State.SCHEDULED, cycle=2).count() == 6
    # The first is due at once; the others wait in RQ's schedule, which releases them at their times.
    assert len(scheduled_in_rq(redis)) == 5
    assert sum(redis.llen(f"rq:queue:{name}") for name in transport.rq_queue_names("default")) == 1
    assert groups.job_counts([group.pk]) == {group.pk: 0}


@pytest.mark.django_db
def test_the_default_rate_comes_from_the_settings(group, settings, redis):
    settings.JOBS_APP = {"GROUP_RETRY_RATE": 4}
    result = group_actions.retry([group.pk])
    assert result.rate == 4 and result.last_run_at - scheduled_times(group)[0] == timedelta(seconds=5 / 4)


@pytest.mark.parametrize("bad", [0, -1, "fast", True, float("nan"), 10**7])
def test_a_bad_rate_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="jobs a second above 0"):
        group_actions.retry_rate(bad)


@pytest.mark.django_db
def test_retrying_a_group_again_re_runs_nothing(group, redis):
    assert group_actions.retry([group.pk], rate=100).retried == 6
    again = group_actions.retry([group.pk], rate=100)
    assert (again.retried, again.last_run_at) == (0, None)


@pytest.mark.django_db(transaction=True)
def test_retrying_a_group_twice_at_once_re_runs_each_job_once(redis):
    group = FailureGroupFactory()
    jobs = JobFactory.create_batch(30, failed=True, fingerprint=group.pk)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def retry():
        try:
            barrier.wait(timeout=30)
            results.append(group_actions.retry([group.pk], rate=1))
        except Exception as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=retry) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(result.retried for result in results) == 30
    assert set(Job.objects.filter(pk__in=[job.pk for job in jobs]).values_list("cycle", flat=True)) == {2}
    assert len(scheduled_in_rq(redis)) >= 28  # the first of each retry may be due at once


@pytest.mark.django_db
def test_move_group_to_dead_stops_auto_retries(group):
    assert group_actions.move_groups_to_dead([group.pk]) == 4
    assert set(groups.jobs_of([group.pk]).values_list("state", flat=True)) == {Job.State.DEAD}
    assert groups.job_counts([group.pk]) == {group.pk: 6}


@pytest.mark.django_db
def test_the_jobs_count_follows_re_runs_deletions_and_success(group, redis):
    some = list(groups.jobs_of([group.pk]).filter(state=Job.State.FAILED)[:2])
    services.rerun(Job.objects.filter(pk__in=[job.pk for job in some]))
    assert groups.job_counts([group.pk]) == {group.pk: 4}
    assert group_actions.delete_terminal(groups.jobs_of([group.pk])) == 2  # the two dead ones
    assert groups.job_counts([group.pk]) == {group.pk: 2}
    Job.objects.filter(pk=some[0].pk).update(state=Job.State.SUCCEEDED)
    assert groups.job_counts([group.pk, "0" * 16]) == {group.pk: 2, "0" * 16: 0}


@pytest.mark.django_db
def test_delete_keeps_jobs_that_may_still_run():
    failed, dead, queued = JobFactory(failed=True), JobFactory(dead=True), JobFactory()
    assert group_actions.delete_terminal(Job.objects.all()) == 1
    assert set(Job.objects.values_list("pk", flat=True)) == {failed.pk, queued.pk}
    del dead


@pytest.mark.django_db
def test_mute_and_unmute(group):
    assert group_actions.set_status([group.pk], FailureGroup.Status.MUTED) == 1
    assert groups.muted_fingerprints() == [group.pk]
    group_actions.set_status([group.pk], FailureGroup.Status.OPEN)
    assert groups.muted_fingerprints() == []


@pytest.mark.django_db
def test_backfill_fingerprints_older_failures_once():
    traceback = (
        'Traceback (most recent call last):\n  File "/elsewhere/x.py", line 3, in f\n'
        "shop.errors.Upstream: upstream returned 502\n"
    )
    for code in (502, 503):
        JobFactory(failed=True, error_type="Upstream", error_message=f"upstream returned {code}", traceback=traceback)
    JobFactory(dead=True)
    JobFactory(succeeded=True)
    assert groups.backfill(batch_size=2) == 3
    assert groups.backfill() == 0
    upstream = FailureGroup.objects.get(error_type="shop.errors.Upstream")
    assert (upstream.occurrences, upstream.message) == (2, "upstream returned <n>")
    assert groups.job_counts([upstream.pk]) == {upstream.pk: 2}
    assert FailureGroup.objects.count() == 2
    assert not Job.objects.filter(state__in=["failed", "dead"], fingerprint="").exists()


@pytest.mark.django_db(transaction=True)
def test_retrying_from_the_admin_and_the_api_at_once_re_runs_each_job_once(redis):
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    from jobs_app.api.tokens import issue_token

    group = FailureGroupFactory()
    jobs = JobFactory.create_batch(40, failed=True, fingerprint=group.pk)
    user = User.objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_failuregroup", "retry_job"], content_type__app_label="jobs_app")
    )
    admin = Client()
    admin.force_login(user)
    api = Client(headers={"Authorization": f"Bearer {issue_token(user, name='race')[1]}"})
    barrier = threading.Barrier(2)
    answers, errors = {}, []

    def from_admin():
        barrier.wait(timeout=30)
        body = {"action": "retry_groups", "_selected_action": [group.pk], "index": "0", "post": "yes", "rate": "1"}
        return admin.post("/admin/jobs_app/failuregroup/", body).status_code

    def from_api():
        barrier.wait(timeout=30)
        return api.post(f"/api/jobs/failure-groups/{group.pk}/retry", '{"rate": 1}', content_type="application/json")

    def run(name, action):
        try:
            answers[name] = action()
        except Exception as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in (("admin", from_admin), ("api", from_api))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert answers["admin"] == 302
    assert answers["api"].status_code in (202, 400)  # 400: the admin had taken every job first
    assert set(Job.objects.filter(pk__in=[job.pk for job in jobs]).values_list("cycle", flat=True)) == {2}
    assert Job.objects.filter(pk__in=[job.pk for job in jobs], state=Job.State.SCHEDULED).count() == 40
