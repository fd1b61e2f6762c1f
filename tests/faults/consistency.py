"""The check every faults case ends with: the database and Redis agree, and every job's state is
explained by its history. Written once, used by every case."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from jobs_app import stats, transport
from jobs_app.models import Job, JobAttempt
from jobs_app.states import TERMINAL, Priority, State

Outcome = JobAttempt.Outcome
FAILED_OUTCOMES = {Outcome.FAILED, Outcome.KILLED}


@dataclass(frozen=True)
class Report:
    states: Counter
    attempts: int  # JobAttempt rows, all cycles
    problems: list[str]


def check(*, final: bool = True) -> Report:
    """Every problem found, and counts. `final`: nothing may be left queued, scheduled or running."""
    problems: list[str] = []
    attempts_by_job: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    total_attempts = 0
    for job_id, cycle, number, outcome in JobAttempt.objects.order_by().values_list(
        "job_id", "cycle", "number", "outcome"
    ):
        attempts_by_job[str(job_id)].append((cycle, number, outcome))
        total_attempts += 1

    jobs = list(Job.objects.order_by().values_list("pk", "state", "cycle", "attempts", "worker_name", "queue"))
    states: Counter = Counter()
    running: list[tuple[str, str]] = []
    waiting: list[tuple[str, str]] = []
    terminal: set[str] = set()
    for pk, state, cycle, attempts, worker_name, queue in jobs:
        job_id = str(pk)
        states[state] += 1
        history = sorted(attempts_by_job.get(job_id, []))
        for past in {c for c, _n, _o in history}:
            numbers = [n for c, n, _o in history if c == past]
            if numbers != list(range(1, len(numbers) + 1)):
                problems.append(f"{job_id}: attempts of cycle {past} are numbered {numbers}")
        this_cycle = [outcome for c, _n, outcome in history if c == cycle]
        recorded = attempts - 1 if state == State.RUNNING else attempts
        if len(this_cycle) != recorded:
            problems.append(f"{job_id}: {state} with attempts={attempts}, but {len(this_cycle)} recorded this cycle")
        if Outcome.SUCCEEDED in this_cycle[:-1]:
            problems.append(f"{job_id}: an attempt after a success in cycle {cycle}: {this_cycle}")
        last = this_cycle[-1] if this_cycle else None
        if state == State.SUCCEEDED and last != Outcome.SUCCEEDED:
            problems.append(f"{job_id}: succeeded, but its last attempt is {last}")
        if state in (State.FAILED, State.DEAD) and last not in FAILED_OUTCOMES:
            problems.append(f"{job_id}: {state}, but its last attempt is {last}")
        if state in (State.SCHEDULED, State.QUEUED, State.RUNNING) and last == Outcome.SUCCEEDED:
            problems.append(f"{job_id}: {state} after a succeeded attempt")
        if state == State.QUEUED and attempts:
            problems.append(f"{job_id}: queued with {attempts} attempts made (a retry is 'scheduled')")
        if state == State.RUNNING:
            running.append((job_id, worker_name))
        elif state in TERMINAL:
            terminal.add(job_id)
        elif state != State.FAILED:
            waiting.append((queue, job_id))

    if final:
        leftover = {state: states[state] for state in (State.QUEUED, State.SCHEDULED, State.RUNNING) if states[state]}
        if leftover:
            problems.append(f"unfinished jobs left: {leftover}")
    current = stats.current_jobs()
    for job_id, worker_name in running:
        if current.get(worker_name) != job_id:
            problems.append(f"{job_id}: running, but worker {worker_name!r} is not on it (stuck)")
    lost = transport.missing_jobs(waiting)
    lost -= set(map(str, Job.objects.filter(pk__in=list(lost), needs_push=True).values_list("pk", flat=True)))
    problems.extend(f"{job_id}: waiting in the database, but RQ will not run it" for job_id in sorted(lost))
    problems.extend(f"{job_id}: finished, but still waiting in RQ" for job_id in sorted(_in_rq_queues() & terminal))
    return Report(states=states, attempts=total_attempts, problems=problems)


def _in_rq_queues() -> set[str]:
    """Job ids waiting in any RQ queue or RQ's schedule."""
    found: set[str] = set()
    for queue in stats.logical_queues():
        redis = transport.connection(queue)
        for priority in Priority.values:
            rq_queue = transport.rq_queue(queue, priority)
            found.update(member.decode() for member in redis.lrange(rq_queue.key, 0, -1))
            found.update(member.decode() for member in redis.zrange(rq_queue.scheduled_job_registry.key, 0, -1))
    return found


def assert_consistent(*, final: bool = True) -> Report:
    """Fail the test, listing up to 20 problems, unless the database and Redis agree."""
    report = check(final=final)
    assert not report.problems, f"{len(report.problems)} problem(s):\n" + "\n".join(report.problems[:20])
    return report
