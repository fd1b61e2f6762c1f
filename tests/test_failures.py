"""An attempt's error as values: what the record keeps and what the retry policy needs, from any process."""

import dataclasses
import json

import pytest

from jobs_app import PermanentError, TransientError
from jobs_app.exceptions import JobTimeout
from jobs_app.failures import ErrorReport
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
