"""One real browser: Debian's Chromium, driven by Playwright, against the live server."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from jobs_app import transport
from jobs_app.models import Job
from tests.factories import JobFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium; CI installs it)"
    ),
]


def logged_in(playwright, live_server):
    """Chromium, and a page logged in to the admin as `ops`."""
    from playwright.sync_api import expect

    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "ops-password")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    return browser, page


@pytest.mark.django_db(transaction=True)
def test_retry_two_failed_jobs_from_the_failed_list(live_server, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    # Everything the database needs is created before Playwright starts its event loop.
    User.objects.create_superuser("ops", "ops@example.com", "ops-password")
    failed = JobFactory.create_batch(3, failed=True, handler="test.add")
    JobFactory.create_batch(2, dead=True, handler="test.add")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser, page = logged_in(playwright, live_server)

        page.goto(f"{live_server.url}/admin/jobs_app/failedjob/")
        expect(page.locator("#result_list tbody tr")).to_have_count(5)
        page.locator("#changelist-filter details[data-filter-title='state'] a", has_text="Failed").click()
        expect(page.locator("#result_list tbody tr")).to_have_count(3)

        page.locator("#result_list input.action-select").nth(0).check()
        page.locator("#result_list input.action-select").nth(1).check()
        page.select_option("select[name=action]", "retry_selected")
        page.click("button[name=index]")

        expect(page.locator("ul.messagelist li.success")).to_have_text("Retried 2 jobs.")
        # The two retried jobs left the failed list; one failed job is still there.
        expect(page.locator("#result_list tbody tr")).to_have_count(1)
        page.screenshot(path=str(SCREENSHOTS / "failed-jobs-retried.png"), full_page=True)
        browser.close()

    states = sorted(Job.objects.filter(pk__in=[job.pk for job in failed]).values_list("state", flat=True))
    assert states == [Job.State.FAILED, Job.State.QUEUED, Job.State.QUEUED]
    assert len(transport.rq_queue("default").job_ids) == 2


@pytest.mark.django_db(transaction=True)
def test_retry_a_failure_group_at_a_rate_from_the_groups_list(live_server, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    from jobs_app.models import FailureGroup
    from tests.factories import FailureGroupFactory

    User.objects.create_superuser("ops", "ops@example.com", "ops-password")
    upstream = FailureGroupFactory(handler="test.add", error_type="shop.errors.Upstream", hourly={})
    JobFactory.create_batch(3, failed=True, handler="test.add", fingerprint=upstream.pk)
    other = FailureGroupFactory(handler="test.echo", error_type="KeyError", message="'<str>'")
    JobFactory(failed=True, handler="test.echo", fingerprint=other.pk)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser, page = logged_in(playwright, live_server)

        page.goto(f"{live_server.url}/admin/jobs_app/failuregroup/")
        expect(page.locator("#result_list tbody tr")).to_have_count(2)
        expect(page.locator("#result_list svg.jobs-sparkline")).to_have_count(2)
        page.screenshot(path=str(SCREENSHOTS / "failure-groups.png"), full_page=True)

        # The group's jobs, in the failed list.
        page.locator("#result_list tr", has_text="shop.errors.Upstream").locator("a.jobs-group-jobs").click()
        expect(page.locator("#result_list tbody tr")).to_have_count(3)
        page.go_back()

        page.locator("#result_list tr", has_text="shop.errors.Upstream").locator("input.action-select").check()
        page.select_option("select[name=action]", "retry_groups")
        page.click("button[name=index]")
        expect(page.locator("p.jobs-question")).to_contain_text("Re-run the 3 failed or dead jobs")
        page.fill("#id_rate", "0.5")
        page.click("input[type=submit]")
        expect(page.locator("ul.messagelist li.success")).to_contain_text("Scheduled 3 jobs at 0.5 jobs a second")
        browser.close()

    assert Job.objects.filter(fingerprint=upstream.pk, state=Job.State.SCHEDULED).count() == 3
    assert FailureGroup.objects.count() == 2
