"""Every log line about a job carries structured fields, for a JSON formatter; the text stays as it was."""

from __future__ import annotations

import json
import logging
import re

import pytest
from django.conf import settings

from jobs_app.logs import FIELDS, job_extra
from tests.factories import JobFactory
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)


def job_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "jobs_app" and getattr(record, "job_id", None)]


def test_job_extra_names_the_job_and_lets_a_line_add_its_own_fields():
    job = JobFactory(handler="test.add", queue="default", attempts=2, max_attempts=3, worker_name="w1")
    extra = job_extra(job, outcome="failed", duration_ms=12)
    assert set(extra) == set(FIELDS)
    assert extra == {
        "job_id": str(job.pk),
        "handler": "test.add",
        "queue": "default",
        "attempt": 2,
        "max_attempts": 3,
        "outcome": "failed",
        "duration_ms": 12,
        "worker": "w1",
    }


def test_the_runner_lines_carry_the_fields_and_keep_their_text(run_worker, caplog):
    caplog.set_level(logging.INFO, logger="jobs_app")
    ok = handlers.add.enqueue(1, 2)
    failing = handlers.permanent.enqueue()
    run_worker("default")

    by_message = {
        record.getMessage().split(":", 1)[0] + ":" + str(record.job_id): record for record in job_records(caplog)
    }
    processing = by_message[f"Processing:{ok.pk}"]
    assert processing.getMessage() == f"Processing: test.add:{ok.pk} (attempt 1/3)"
    assert (processing.handler, processing.queue, processing.attempt, processing.max_attempts) == (
        "test.add",
        "default",
        1,
        3,
    )
    assert processing.worker  # the RQ worker's name

    succeeded = by_message[f"Succeeded:{ok.pk}"]
    assert succeeded.getMessage().startswith(f"Succeeded: test.add:{ok.pk} after ")
    assert succeeded.outcome == "succeeded" and isinstance(succeeded.duration_ms, int)

    failed = by_message[f"Failed:{failing.pk}"]
    assert failed.getMessage().endswith("(attempt 1/5) - the address does not exist")
    assert (failed.outcome, failed.handler, failed.max_attempts) == ("failed", "test.permanent", 5)


def docs_python_blocks() -> list[str]:
    text = (settings.BASE_DIR / "docs" / "operations.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_every_python_example_in_the_operations_docs_runs(monkeypatch):
    from jobs_app import prometheus

    monkeypatch.setattr(prometheus, "GAUGES", {})
    for block in docs_python_blocks():
        exec(compile(block, "docs/operations.md", "exec"), {})
    assert set(prometheus.GAUGES) == {"myproject_invoices_unsent"}


def test_the_docs_json_formatter_emits_real_fields(run_worker, caplog):
    """The docs' standard-library formatter (docs/operations.md), applied to real lines."""
    namespace: dict = {}
    exec(compile(docs_python_blocks()[1], "docs/operations.md", "exec"), namespace)
    JsonFormatter = namespace["JsonFormatter"]

    caplog.set_level(logging.INFO, logger="jobs_app")
    job = handlers.add.enqueue(1, 2)
    run_worker("default")
    lines = [json.loads(JsonFormatter().format(record)) for record in job_records(caplog)]
    succeeded = next(line for line in lines if line.get("outcome") == "succeeded")
    assert succeeded["job_id"] == str(job.pk) and succeeded["handler"] == "test.add" and "duration_ms" in succeeded
