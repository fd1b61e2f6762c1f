"""Every numeric option of every command answers every bad value with a usage error (issue 15, defects 8, 12)."""

from __future__ import annotations

import argparse
import subprocess
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from jobs_app.management.options import AGE, COUNT, SECONDS, TEXT, Duration, Number, Text
from tests.factories import JobFactory

BAD_NUMBERS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1", "-0.5", "1e12", "9" * 30, "", "abc", "0x10"]
BAD_TEXT = ["\udcff", "caf\udce9", "nul\x00", "x" * 201]
BAD_AGES = ["999999999999d", "99999999999999999999s", "-1d", "nan", "infd", "1e400s", "0.5d", "14", "2w", ""]


def jobs_app_commands() -> list[str]:
    return sorted(name for name, app in get_commands().items() if app == "jobs_app")


DJANGO_OPTIONS = {action.dest for action in BaseCommand().create_parser("manage.py", "x")._actions}


def checked_options() -> list[tuple[str, argparse.Action]]:
    """(command, option) for every option and argument of every jobs_app command that takes a value,
    Django's own (--settings, --verbosity, ...) and those with choices (which refuse anything else) aside."""
    found = []
    for name in jobs_app_commands():
        parser = load_command_class("jobs_app", name).create_parser("manage.py", name)
        found += [
            (name, action)
            for action in parser._actions
            if action.nargs != 0 and action.dest not in DJANGO_OPTIONS and not action.choices
        ]
    return found


def test_every_value_of_every_command_goes_through_a_shared_type():
    options = checked_options()
    assert {"--interval", "--delay", "--max-retries", "--limit", "--older-than", "--queue", "username"} <= {
        label(action) for _, action in options
    }
    for command, action in options:
        assert isinstance(action.type, Number | Duration | Text), f"{command} {label(action)} uses {action.type}"


def label(action: argparse.Action) -> str:
    return action.option_strings[0] if action.option_strings else action.dest


def bad_values(action: argparse.Action) -> list[str]:
    if isinstance(action.type, Duration):
        return BAD_AGES
    if isinstance(action.type, Text):
        return BAD_TEXT
    return BAD_NUMBERS


@pytest.mark.parametrize(("command", "option"), [(c, label(a)) for c, a in checked_options()])
def test_every_option_refuses_nan_infinities_huge_values_negatives_and_unstorable_text(command, option):
    parser = load_command_class("jobs_app", command).create_parser("manage.py", command)
    action = next(action for action in parser._actions if label(action) == option)
    positionals = [
        next(iter(other.choices)) if other.choices else "x"  # a valid value for a positional with choices
        for other in parser._actions
        if not other.option_strings and other.nargs is None and other is not action
    ]
    for value in bad_values(action):
        argument = f"{option}={value}" if action.option_strings else value
        with pytest.raises(CommandError, match=f"argument {option}"):
            parser.parse_args([*positionals, argument])


@pytest.mark.parametrize(
    ("validator", "raw", "expected"),
    [(SECONDS, "0", 0.0), (SECONDS, "2.5", 2.5), (COUNT, "3", 3), (AGE, "14d", AGE("336h")), (TEXT, "café", "café")],
)
def test_good_values_still_pass(validator, raw, expected):
    assert validator(raw) == expected


# The exact commands of the issue, end to end.


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "-1"])
def test_retry_failed_delay_is_a_usage_error(value):
    with pytest.raises(CommandError, match="argument --delay: expected a number from 0 to"):
        call_command("retry_failed", "--once", f"--delay={value}")


@pytest.mark.django_db
def test_purge_jobs_older_than_past_datetimes_range_is_a_usage_error():
    with pytest.raises(CommandError, match="argument --older-than"):
        call_command("purge_jobs", "--older-than", "999999999999d")


def test_from_the_command_line_a_bad_value_is_a_usage_line_and_exit_2(subprocess_env, manage_py):
    for args in (["retry_failed", "--once", "--delay", "nan"], ["purge_jobs", "--older-than", "999999999999d"]):
        run = subprocess.run([*manage_py, *args], env=subprocess_env, capture_output=True, text=True)
        assert run.returncode == 2, run.stderr
        assert "usage:" in run.stderr and "Traceback" not in run.stderr


# --queue and --handler of retry_failed (issue 15, defect 12).


@pytest.mark.django_db
def test_an_unknown_queue_is_a_usage_error_listing_the_configured_queues(settings):
    with pytest.raises(CommandError, match="Unknown queue.*nosuch") as raised:
        call_command("retry_failed", "--once", "--queue", "default", "--queue", "nosuch")
    assert all(queue in str(raised.value) for queue in settings.RQ_QUEUES)


@pytest.mark.django_db
def test_an_unknown_handler_is_a_warning_and_the_pass_goes_on():
    JobFactory(failed=True, handler="renamed.handler", failed_at=timezone.now() - timedelta(hours=1))
    out, err = StringIO(), StringIO()
    call_command("retry_failed", "--once", "--handler", "renamed.handler", stdout=out, stderr=err)
    assert "No handler is registered as 'renamed.handler'" in err.getvalue()
    assert "scanned 1 failed job(s)" in out.getvalue()


def test_jobs_cron_with_a_configuration_that_cannot_be_loaded_is_a_usage_error():
    with pytest.raises(CommandError, match="Cannot load the cron configuration 'no.such.module'"):
        call_command("jobs_cron", "no.such.module")
