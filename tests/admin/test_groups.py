"""The admin's failure groups: the list, its sparkline and links, the actions, their permissions and audit log;
and the failed list's failure-group filter and column, bulk move to dead and delete."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from jobs_app import groups
from jobs_app.models import FailureGroup, Job
from tests.conftest import staff_with
from tests.factories import FailureGroupFactory, JobFactory

from .conftest import messages_of, post_action

pytestmark = pytest.mark.django_db

LIST = "/admin/jobs_app/failuregroup/"


@pytest.fixture
def upstream():
    group = FailureGroupFactory(handler="test.add", error_type="shop.errors.Upstream", hourly={})
    group.hourly = {str(groups.hour_of(group.last_seen)): 3}
    group.save()
    JobFactory.create_batch(3, failed=True, fingerprint=group.pk)
    JobFactory(dead=True, fingerprint=group.pk)
    return group


@pytest.fixture
def other():
    group = FailureGroupFactory(handler="test.echo", error_type="KeyError", message="'<str>'", status="muted")
    JobFactory(failed=True, handler="test.echo", fingerprint=group.pk)
    return group


@pytest.fixture
def triager(db):
    return staff_with(
        "triager",
        "view_failuregroup",
        "view_failedjob",
        "view_job",
        "retry_job",
        "change_failuregroup",
        "dead_letter_job",
        "delete_job",
    )


def post_groups(client, action, chosen, **extra):
    return client.post(
        LIST,
        {"action": action, "_selected_action": [group.pk for group in chosen], "index": "0", **extra},
        follow=True,
    )


def test_the_list_shows_one_line_per_cause_newest_first_with_counts_sparkline_and_links(admin_client, upstream, other):
    response = admin_client.get(LIST)
    html = response.content.decode()
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert rows == sorted(rows, key=lambda group: group.last_seen, reverse=True)
    assert {group.pk: group.job_count for group in rows} == {upstream.pk: 4, other.pk: 1}
    assert f'href="/admin/jobs_app/failedjob/?fingerprint={upstream.pk}"' in html
    assert 'class="jobs-sparkline"' in html and "<script" not in html.split('id="result_list"')[1].split("</table>")[0]
    assert "3 failed attempts in the last 48 hours" in html


def test_search_and_filters(admin_client, upstream, other):
    assert list(admin_client.get(LIST, {"q": "Upstream"}).context["cl"].result_list) == [upstream]
    assert list(admin_client.get(LIST, {"q": other.pk}).context["cl"].result_list) == [other]
    assert list(admin_client.get(LIST, {"status__exact": "muted"}).context["cl"].result_list) == [other]
    assert list(admin_client.get(LIST, {"handler": "test.add"}).context["cl"].result_list) == [upstream]


def test_a_groups_page_shows_its_sample_and_jobs(admin_client, upstream):
    upstream.sample_traceback = "Traceback...\nshop.errors.Upstream: upstream returned 502"
    upstream.save()
    response = admin_client.get(reverse("admin:jobs_app_failuregroup_change", args=[upstream.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "upstream returned 502" in html and f"?fingerprint={upstream.pk}" in html


def test_retry_group_asks_for_the_rate_then_schedules_and_says_when_the_last_runs(client, triager, upstream, redis):
    client.force_login(triager)
    confirm = post_groups(client, "retry_groups", [upstream])
    html = confirm.content.decode()
    assert "Re-run the 4 failed or dead jobs of 1 group(s)" in html
    assert 'name="rate" id="id_rate" value="10"' in html
    assert not Job.objects.filter(state=Job.State.SCHEDULED).exists()

    done = post_groups(client, "retry_groups", [upstream], post="yes", rate="2")
    [message] = messages_of(done)
    assert message.startswith("Scheduled 4 jobs at 2 jobs a second; the last one runs at ")
    assert Job.objects.filter(fingerprint=upstream.pk, state=Job.State.SCHEDULED).count() == 4
    entry = LogEntry.objects.get(content_type=ContentType.objects.get_for_model(FailureGroup))
    assert entry.object_id == upstream.pk and entry.user == triager and "Scheduled 4 jobs" in entry.change_message


def test_a_bad_rate_shows_the_confirmation_again_with_the_error(client, triager, upstream):
    client.force_login(triager)
    response = post_groups(client, "retry_groups", [upstream], post="yes", rate="0")
    assert "jobs a second above 0" in response.content.decode()
    assert not Job.objects.filter(state=Job.State.SCHEDULED).exists()


def test_move_to_dead_resolve_mute_and_unmute(client, triager, upstream, other):
    client.force_login(triager)
    assert messages_of(post_groups(client, "move_groups_to_dead", [upstream])) == ["Moved 3 failed jobs to dead."]
    assert set(Job.objects.filter(fingerprint=upstream.pk).values_list("state", flat=True)) == {"dead"}
    post_groups(client, "resolve_groups", [upstream])
    post_groups(client, "unmute_groups", [other])
    statuses = dict(FailureGroup.objects.values_list("pk", "status"))
    assert statuses == {upstream.pk: "resolved", other.pk: "open"}
    post_groups(client, "mute_groups", [upstream])
    assert FailureGroup.objects.get(pk=upstream.pk).status == "muted"
    assert LogEntry.objects.filter(object_id=upstream.pk).count() == 3


def test_actions_need_their_permissions(client, upstream):
    client.force_login(staff_with("looker", "view_failuregroup"))
    assert client.get(LIST).context["action_form"] is None  # no action offered
    post_groups(client, "move_groups_to_dead", [upstream])
    post_groups(client, "retry_groups", [upstream], post="yes", rate="5")
    assert Job.objects.filter(fingerprint=upstream.pk, state="failed").count() == 3
    assert LogEntry.objects.count() == 0


# The failed list


def test_the_failed_list_filters_by_group_and_links_each_job_to_its_group(admin_client, upstream, other):
    response = admin_client.get("/admin/jobs_app/failedjob/", {"fingerprint": upstream.pk})
    assert {job.fingerprint for job in response.context["cl"].result_list} == {upstream.pk}
    assert response.context["cl"].result_count == 4
    html = response.content.decode()
    assert reverse("admin:jobs_app_failuregroup_change", args=[upstream.pk]) in html


def test_bulk_move_to_dead_confirms_with_the_count_first(client, triager, upstream):
    client.force_login(triager)
    jobs = list(Job.objects.filter(fingerprint=upstream.pk))
    confirm = post_action(client, "failedjob", "move_to_dead_selected", jobs)
    assert "Move 3 failed jobs to dead now?" in confirm.content.decode()
    assert Job.objects.filter(state="dead").count() == 1
    done = client.post(
        "/admin/jobs_app/failedjob/",
        {"action": "move_to_dead_selected", "_selected_action": [str(job.pk) for job in jobs], "post": "yes"},
        follow=True,
    )
    assert messages_of(done) == ["Moved 3 jobs to dead."]
    assert Job.objects.filter(state="dead").count() == 4


def test_bulk_delete_deletes_only_dead_jobs_after_confirming(client, triager, upstream):
    client.force_login(triager)
    jobs = list(Job.objects.filter(fingerprint=upstream.pk))
    confirm = post_action(client, "failedjob", "delete_terminal_selected", jobs)
    assert "Delete 1 dead job and its attempts?" in confirm.content.decode()
    done = client.post(
        "/admin/jobs_app/failedjob/",
        {"action": "delete_terminal_selected", "_selected_action": [str(job.pk) for job in jobs], "post": "yes"},
        follow=True,
    )
    assert messages_of(done) == ["Deleted 1 job."]
    assert Job.objects.filter(fingerprint=upstream.pk).count() == 3
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 1


def test_bulk_move_and_delete_need_their_permissions(operator_client, upstream):
    response = operator_client.get("/admin/jobs_app/failedjob/")
    offered = [value for value, _label in response.context["action_form"].fields["action"].choices]
    assert "move_to_dead_selected" not in offered and "delete_terminal_selected" not in offered


def test_a_groups_page_has_the_actions_as_buttons(client, triager, upstream, redis):
    client.force_login(triager)
    page = reverse("admin:jobs_app_failuregroup_change", args=[upstream.pk])
    html = client.get(page).content.decode()
    for action in ("retry_groups", "move_groups_to_dead", "resolve_groups", "mute_groups", "unmute_groups"):
        assert f"/act/{action}/" in html
    retry = reverse("admin:jobs_app_failuregroup_action", args=[upstream.pk, "retry_groups"])
    assert 'name="rate"' in client.post(retry).content.decode()  # asks for the rate first
    done = client.post(retry, {"post": "yes", "rate": "5"}, follow=True)
    assert done.redirect_chain[-1][0] == page
    assert messages_of(done)[0].startswith("Scheduled 4 jobs at 5 jobs a second")
    resolve = reverse("admin:jobs_app_failuregroup_action", args=[upstream.pk, "resolve_groups"])
    client.post(resolve)
    assert FailureGroup.objects.get(pk=upstream.pk).status == "resolved"
    assert client.get(resolve).status_code == 405


def test_a_groups_page_offers_only_the_allowed_buttons(client, upstream):
    client.force_login(staff_with("looker", "view_failuregroup"))
    page = reverse("admin:jobs_app_failuregroup_change", args=[upstream.pk])
    assert "/act/" not in client.get(page).content.decode()
    resolve = reverse("admin:jobs_app_failuregroup_action", args=[upstream.pk, "resolve_groups"])
    assert client.post(resolve).status_code == 403
    assert client.post(reverse("admin:jobs_app_failuregroup_action", args=[upstream.pk, "nope"])).status_code == 404
    assert FailureGroup.objects.get(pk=upstream.pk).status == "open"


def test_the_lists_link_to_each_other(admin_client, upstream):
    assert "/admin/jobs_app/failuregroup/" in admin_client.get("/admin/jobs_app/failedjob/").content.decode()
    assert "/admin/jobs_app/failedjob/" in admin_client.get(LIST).content.decode()
