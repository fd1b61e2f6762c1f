"""An attempt's error as values: what the record keeps and what the retry policy needs, from any process."""

import dataclasses
import json
import traceback

import pytest

from jobs_app import PermanentError, TransientError
from jobs_app.exceptions import JobTimeout
from jobs_app.failures import ErrorReport, formatted_traceback
from tests.test_runner import is_caret_line
from tests.testapp import handlers
from tests.testapp.handlers import Probe


def test_a_report_keeps_the_exception_s_names_message_and_traceback():
    report = ErrorReport.of(Probe(3), traceback="Traceback ...\nProbe: probe 3\n")
    assert (report.type_name, report.dotted_type, report.message) == (
        "Probe",
        "tests.testapp.handlers.Probe",
        "probe 3",
    )
    assert report.traceback.endswith("probe 3\n")
    assert ErrorReport.of(KeyError("k")).dotted_type == "KeyError"  # a built-in is its name alone


@pytest.mark.parametrize(
    ("error", "give_up_on", "gives_up"),
    [
        (ValueError("v"), (), False),
        (ValueError("v"), (ValueError,), True),
        (PermanentError("p"), (), True),
        (TransientError("t"), (TransientError,), False),
    ],
)
def test_the_give_up_verdict_is_taken_on_the_exception_itself(error, give_up_on, gives_up):
    assert ErrorReport.of(error, give_up_on=give_up_on).gives_up is gives_up


def test_a_time_limit_is_reported_as_such():
    assert ErrorReport.of(JobTimeout("slow")).timed_out
    assert not ErrorReport.of(RuntimeError("x")).timed_out


def test_text_that_cannot_be_stored_is_made_storable():
    report = ErrorReport.of(RuntimeError("bad \ud800 text\x00"))
    assert report.message == "bad \\ud800 text\\x00"


def test_a_report_survives_its_json_form_and_anything_else_is_refused():
    report = ErrorReport.of(Probe(1), give_up_on=(Probe,), traceback="tb")
    assert ErrorReport.from_dict(json.loads(json.dumps(dataclasses.asdict(report)))) == report
    for bad in (None, [], {"type_name": "X"}, {**dataclasses.asdict(report), "gives_up": "yes"}):
        with pytest.raises(ValueError, match="not an error report"):
            ErrorReport.from_dict(bad)


def fails_while_handling() -> None:
    try:
        {}["missing"]
    except KeyError as error:
        raise RuntimeError("lookup failed") from error


def fails_hiding_the_context() -> None:
    try:
        {}["missing"]
    except KeyError:
        raise RuntimeError("lookup failed") from None


def recurses(depth: int) -> int:
    if depth == 0:
        raise RuntimeError("too deep")
    return recurses(depth - 1) + 1


def fails_with_a_note() -> None:
    error = RuntimeError("noted")
    error.add_note("while importing orders")
    raise error


def fails_in_a_group() -> None:
    raise ExceptionGroup("two failed", [RuntimeError("one"), ValueError("two")])


@pytest.mark.parametrize(
    "fail",
    [
        lambda: handlers.always_fails("kaput"),
        fails_while_handling,
        fails_hiding_the_context,
        lambda: recurses(10),
        fails_with_a_note,
        fails_in_a_group,
    ],
    ids=["plain", "chained", "context hidden", "recursion", "note", "group"],
)
def test_a_formatted_traceback_is_pythons_less_the_caret_lines(fail):
    try:
        fail()
    except Exception as error:
        caught = error
    python = "".join(traceback.format_exception(caught)).splitlines()
    ours = formatted_traceback(caught).splitlines()
    assert ours == [line for line in python if not is_caret_line(line)]
    assert ours[0] == "Traceback (most recent call last):" or ours[0].startswith("  + Exception Group Traceback")


def test_a_chained_traceback_shows_both_exceptions_and_a_recursion_says_its_repeats():
    try:
        fails_while_handling()
    except RuntimeError as error:
        chained = formatted_traceback(error).splitlines()
    assert "The above exception was the direct cause of the following exception:" in chained
    assert chained[-1] == "RuntimeError: lookup failed" and "KeyError: 'missing'" in chained
    try:
        recurses(10)
    except RuntimeError as error:
        deep = formatted_traceback(error)
    assert "  [Previous line repeated 7 more times]\n" in deep and deep.endswith("RuntimeError: too deep\n")
