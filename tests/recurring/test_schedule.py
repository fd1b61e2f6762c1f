"""Declaring recurring handlers: validation at import time, slots, and the default max_interval."""

from datetime import UTC, datetime, timedelta

import pytest

from jobs_app import job_handler
from jobs_app.recurring import describe, next_slot, occurrence_key, period, previous_slot
from jobs_app.registry import Handler
from tests.testapp import handlers


def noop():
    return None


@pytest.mark.parametrize("bad", ["every night", "61 * * * *", "* * *", ""])
def test_a_bad_cron_string_fails_at_import_with_a_clear_message(bad):
    with pytest.raises(ValueError, match=r"schedule must be a cron expression such as '0 0 \* \* \*'"):
        job_handler("test.bad_schedule", schedule=bad)(noop)


def test_schedule_and_every_together_are_refused():
    with pytest.raises(TypeError, match="schedule= .* or every="):
        job_handler("test.both", schedule="0 0 * * *", every=timedelta(hours=1))(noop)


def test_max_interval_without_a_schedule_is_refused():
    with pytest.raises(TypeError, match="max_interval= only means something with schedule= or every="):
        job_handler("test.max_only", max_interval=60)(noop)


def test_max_interval_defaults_to_one_and_a_half_periods():
    assert handlers.nightly.max_interval == 1.5 * 24 * 3600
    every = Handler(noop, name="test.every5", every=timedelta(minutes=5))
    assert every.max_interval == 450
    # Weekdays at 09:00: the longest gap is Friday to Monday.
    weekdays = Handler(noop, name="test.weekdays", schedule="0 9 * * 1-5")
    assert period(weekdays) == 3 * 24 * 3600
    assert handlers.daily_sync.max_interval == 30 * 3600  # given explicitly


def test_cron_slots_are_utc_and_the_slot_itself_counts_as_due():
    midnight = datetime(2026, 1, 3, tzinfo=UTC)
    assert previous_slot(handlers.nightly, midnight) == midnight
    assert previous_slot(handlers.nightly, midnight + timedelta(hours=5)) == midnight
    assert previous_slot(handlers.nightly, midnight - timedelta(seconds=1)) == midnight - timedelta(days=1)
    assert next_slot(handlers.nightly, midnight) == midnight + timedelta(days=1)


def test_every_slots_count_from_the_epoch_so_every_scheduler_agrees():
    every5 = Handler(noop, name="test.every5", every=timedelta(minutes=5))
    at = datetime(2026, 1, 3, 12, 7, 30, tzinfo=UTC)
    assert previous_slot(every5, at) == datetime(2026, 1, 3, 12, 5, tzinfo=UTC)
    assert next_slot(every5, at) == datetime(2026, 1, 3, 12, 10, tzinfo=UTC)
    assert describe(every5) == "every 5 minutes"
    assert describe(handlers.nightly) == "cron 0 0 * * *"


def test_an_occurrence_key_names_the_handler_and_the_slot():
    slot = datetime(2026, 1, 3, tzinfo=UTC)
    assert occurrence_key(handlers.nightly, slot) == "cron:test.nightly:2026-01-03T00:00:00+00:00"
