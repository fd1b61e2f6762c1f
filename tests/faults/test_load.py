"""Load: many jobs, 30% of them failing at random on some attempts, 4 worker processes and a sweeper.

The workers are the production pool, one `manage.py jobs_worker --num-workers 4`. CI runs 1,000 jobs;
`make test-faults-full` (FAULTS_FULL=1) runs the issue's 10,000, and also the same load on 4 forking
`rqworker` processes (jobs_app's `Worker`, a work horse per job), which CI leaves out: it takes three to five
times the pool's time. FAULTS_LOAD_JOBS sets any other number. At the end every job is
`succeeded` or `dead`, exactly as its failures say, the attempt counts add up, and nothing is left
queued, running or scheduled. The test prints jobs/s (docs/benchmarks.md, "Fault suite load").
"""

import os
import random
import signal
import time

import pytest
from django.db.models import Count, Max, Min

from jobs_app.models import Job, JobAttempt
from tests.faults.consistency import assert_consistent
from tests.polling import wait_for
from tests.testapp import fault_handlers

pytestmark = [pytest.mark.faults, pytest.mark.subprocess, pytest.mark.django_db(transaction=True)]

FULL = bool(os.environ.get("FAULTS_FULL"))
JOBS = int(os.environ.get("FAULTS_LOAD_JOBS") or (10_000 if FULL else 1_000))
WORKERS = 4
FAILING_SHARE = 0.3
# faults.flaky: 3 attempts per cycle, then one re-run by the sweeper, then dead.
MAX_ATTEMPTS, MAX_CYCLES = 3, 2


def expected(fail_first: int) -> tuple[str, int, int]:
    """(final state, cycle, attempts over all cycles) of a job that fails its first `fail_first` attempts."""
    if fail_first >= MAX_ATTEMPTS * MAX_CYCLES:
        return Job.State.DEAD, MAX_CYCLES, MAX_ATTEMPTS * MAX_CYCLES
    return Job.State.SUCCEEDED, fail_first // MAX_ATTEMPTS + 1, fail_first + 1


def start_pool(processes) -> None:
    """The production pool: one `jobs_worker` of WORKERS long-lived processes."""
    processes.pool("faults-load-pool", "--num-workers", str(WORKERS))


def start_forking_workers(processes) -> None:
    """WORKERS forking `rqworker`s, each with RQ's scheduler, a work horse per job."""
    for number in range(WORKERS):
        processes.worker(f"faults-load-{number}", "default")


WORKER_SETUPS = {"pool": start_pool, "forking": start_forking_workers}


@pytest.mark.parametrize(
    "setup",
    [
        "pool",
        pytest.param(
            "forking", marks=pytest.mark.skipif(not FULL, reason="the forking workers' load runs with FAULTS_FULL=1")
        ),
    ],
)
def test_load_every_job_ends_succeeded_or_dead_and_the_attempts_add_up(processes, setup, capsys):
    rng = random.Random(20261123)
    plan = [rng.randint(1, 7) if rng.random() < FAILING_SHARE else 0 for _ in range(JOBS)]
    enqueue_started = time.monotonic()
    jobs = fault_handlers.flaky.enqueue_many([(fail_first,) for fail_first in plan])
    enqueue_seconds = time.monotonic() - enqueue_started

    started, load_before = time.monotonic(), os.getloadavg()[0]  # the machine may be shared: printed below
    WORKER_SETUPS[setup](processes)
    # Re-run failed jobs every second; the repair keeps its production grace period (60 s).
    processes.manage("sweeper", "retry_failed", "--interval", "1", env={"FAULTS_REPAIR_GRACE": "60"})
    finished = lambda: not Job.objects.filter(state__in=["queued", "scheduled", "running", "failed"]).exists()  # noqa: E731
    wait_for(finished, timeout=120 + JOBS / 5, message=f"{JOBS} jobs to finish")
    wall = time.monotonic() - started

    for name in processes.started:
        processes.kill(name, signal.SIGTERM)
    assert [processes.wait(name, timeout=60) for name in processes.started] == [0] * len(processes.started)

    want = {str(job.pk): expected(fail_first) for job, fail_first in zip(jobs, plan, strict=True)}
    got = {
        str(pk): (state, cycle, total)
        for pk, state, cycle, total in Job.objects.annotate(total=Count("history")).values_list(
            "pk", "state", "cycle", "total"
        )
    }
    assert got == want
    attempts = sum(total for _state, _cycle, total in want.values())
    report = assert_consistent()
    assert report.attempts == JobAttempt.objects.count() == attempts
    assert set(report.states) <= {Job.State.SUCCEEDED, Job.State.DEAD}

    # From the records too, as bench/run.py times it: the processes' start-up left out.
    span = JobAttempt.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
    recorded = (span["last"] - span["first"]).total_seconds()
    with capsys.disabled():
        print(
            f"\nload: {JOBS} jobs ({report.states[Job.State.SUCCEEDED]} succeeded, {report.states[Job.State.DEAD]} "
            f"dead), {attempts} attempts, {WORKERS} workers ({setup}): enqueued in {enqueue_seconds:.1f}s, "
            f"done in {wall:.1f}s = {JOBS / wall:.0f} jobs/s ({attempts / wall:.0f} attempts/s); first attempt to "
            f"last {recorded:.1f}s = {JOBS / recorded:.0f} jobs/s; "
            f"load average {load_before:.1f} to {os.getloadavg()[0]:.1f}"
        )
