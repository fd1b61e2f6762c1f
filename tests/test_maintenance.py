"""maintenance.py. More dead jobs in an hour than the threshold: an error in the log and a mail to the admins,
once an hour, Redis down or not."""

import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from jobs_app.maintenance import alert_if_many_dead, alert_memory
from jobs_app.sweeper import sweep
from tests.conftest import OPS_ADMINS
from tests.factories import JobFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("redis"),
]


@override_settings(JOBS_APP={"ALERT_DEAD_THRESHOLD": 3}, ADMINS=OPS_ADMINS)
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


@override_settings(JOBS_APP={"ALERT_DEAD_THRESHOLD": 3}, ADMINS=OPS_ADMINS)
def test_no_alert_at_or_below_the_threshold_or_for_old_dead_jobs(ago):
    JobFactory.create_batch(3, failed=True, auto_retries=3, failed_at=ago(hours=2))
    JobFactory.create_batch(5, dead=True, finished_at=ago(hours=2))
    sweep()
    assert mail.outbox == []


@override_settings(JOBS_APP={"ALERT_DEAD_THRESHOLD": None}, ADMINS=OPS_ADMINS)
def test_the_alert_can_be_turned_off():
    JobFactory.create_batch(5, dead=True)
    assert alert_if_many_dead() is False
    assert mail.outbox == []


def _redis_down():
    """Every queue pointed at a port where nothing listens: Redis cannot be reached."""
    return override_settings(
        RQ_QUEUES={name: {**config, "URL": "redis://127.0.0.1:1/0"} for name, config in settings.RQ_QUEUES.items()}
    )


@override_settings(JOBS_APP={"ALERT_DEAD_THRESHOLD": 3}, ADMINS=OPS_ADMINS)
def test_with_redis_down_the_alert_still_fires_at_most_once_an_hour(caplog, redis):
    """Issue 15, defect 11: the flag in Redis cannot be set, so this sweeper keeps the limit itself,
    through the outage and after Redis comes back without the flag."""
    alert_memory.forget()
    JobFactory.create_batch(4, dead=True)
    now = timezone.now()
    try:
        with _redis_down(), caplog.at_level(logging.ERROR, logger="jobs_app"):
            assert alert_if_many_dead(now=now) is True
            for minutes in (1, 10, 30):
                assert alert_if_many_dead(now=now + timedelta(minutes=minutes)) is False
        assert len(mail.outbox) == 1
        assert "this sweeper keeps the limit" in caplog.text

        assert not redis.exists("jobs_app:alert:dead"), "Redis never heard of the alert"
        assert alert_if_many_dead(now=now + timedelta(minutes=40)) is False  # back, without the flag
        assert len(mail.outbox) == 1
        assert alert_if_many_dead(now=now + timedelta(minutes=61)) is False  # the flag, set on return, holds
        assert len(mail.outbox) == 1
    finally:
        alert_memory.forget()
