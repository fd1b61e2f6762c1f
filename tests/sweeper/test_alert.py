"""More dead jobs in an hour than the threshold: an error in the log and a mail to the admins, once an hour."""

import logging

import pytest
from django.core import mail
from django.test import override_settings

from jobs_app.sweeper import alert_if_many_dead, sweep
from tests.factories import JobFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("redis"),
]


@override_settings(JOBS_APP={"ALERT_DEAD_THRESHOLD": 3}, ADMINS=[("Ops", "ops@example.com")])
def test_many_dead_jobs_alert_once_an_hour(caplog, ago):
    JobFactory.create_batch(4, failed=True, auto_retries=3, failed_at=ago(hours=2))
    with caplog.at_level(logging.ERROR, logger="jobs_app"):
        sweep()
    assert len(mail.outbox) == 1
    assert "4 jobs went dead in the last hour" in mail.outbox[0].body
    assert mail.outbox[0].to == ["ops@example.com"]
    assert "Alert: 4 jobs went dead" in caplog.text

    JobFactory.create_batch(2, failed=True, auto_retries=3, failed_at=ago(hours=2))
    sweep()
    assert len(mail.outbox) == 1  # not again within the hour


@override_settings(JOBS_APP={"ALERT_DEAD_THRESHOLD": 3}, ADMINS=[("Ops", "ops@example.com")])
def test_no_alert_at_or_below_the_threshold_or_for_old_dead_jobs(ago):
    JobFactory.create_batch(3, failed=True, auto_retries=3, failed_at=ago(hours=2))
    JobFactory.create_batch(5, dead=True, finished_at=ago(hours=2))
    sweep()
    assert mail.outbox == []


@override_settings(JOBS_APP={"ALERT_DEAD_THRESHOLD": None}, ADMINS=[("Ops", "ops@example.com")])
def test_the_alert_can_be_turned_off():
    JobFactory.create_batch(5, dead=True)
    assert alert_if_many_dead() is False
    assert mail.outbox == []
