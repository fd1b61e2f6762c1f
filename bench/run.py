"""`make bench`: jobs_app side by side with bare RQ, on one Redis, one machine, in one run.

Each case runs a few times, alternating jobs_app and bare RQ, and the table shows the
medians, so that the ratios hold on a noisy machine. Worker cases run in a forked child
process, whose peak RSS is reported. Results also go to bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
# Workers log only what would stop a run: the failing cases raise on purpose, and
# bare RQ would print thousands of expected tracebacks.
QUIET = "CRITICAL"


@dataclass
class Case:
    name: str
    target: str
    jobs_app: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    unit: str = "jobs/s"
    passed: bool | None = None
    note: str = ""

    def median(self, side: str) -> float | None:
        values = getattr(self, side)
        return statistics.median(values) if values else None

    @property
    def ratio(self) -> float | None:
        mine, bare = self.median("jobs_app"), self.median("bare")
        return mine / bare if mine and bare else None


def use_own_sqlite(name: str) -> None:
    """Point DATABASE_URL at a fresh `var/<name>.sqlite3` unless it is set: a script of its own must not share
    `bench.run`'s database, since a `make bench` may be running."""
    if os.environ.get("DATABASE_URL"):
        return
    database = ROOT / "var" / f"{name}.sqlite3"
    database.parent.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"


def setup_environment(quick: bool) -> object:
    """A throwaway Redis and a fresh database, before Django reads its settings."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("JOBS_LOG_LEVEL", "ERROR")  # the failing cases fail on purpose
    if not os.environ.get("DATABASE_URL"):
        database = ROOT / "var" / "bench.sqlite3"
        database.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    from jobs_app.testing import RedisServer

    server = RedisServer().start()
    os.environ["REDIS_URL"] = server.url

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import bench.tasks  # noqa: F401  (registers the benchmark's handlers)

    return server


def reset() -> None:
    """Empty Redis and the job tables between runs."""
    from jobs_app import transport
    from jobs_app.models import Job, JobAttempt

    transport.connection("default").flushdb()
    JobAttempt.objects.all().delete()
    Job.objects.all().delete()


def bare_queue():
    from rq import Queue
    from rq.serializers import JSONSerializer

    from jobs_app import transport

    return Queue("default", connection=transport.connection("default"), serializer=JSONSerializer)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def in_child(action: Callable[[], float]) -> tuple[float, float]:
    """Run `action` in a forked child: (its result, the child's peak RSS in MB, work horses included)."""
    from django.db import connections

    connections.close_all()
    reader, writer = get_context("fork").Pipe(duplex=False)

    def child() -> None:
        seconds = action()
        usage = max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        )
        writer.send((seconds, usage / 1024))

    process = get_context("fork").Process(target=child)
    process.start()
    result = reader.recv()
    process.join()
    return result


# --- the cases: each returns seconds for n jobs, jobs_app side and bare side -------------------------------------


def enqueue_one_by_one(n: int) -> tuple[Callable[[], float], Callable[[], float]]:
    from django.db import transaction

    from bench import tasks

    def mine() -> float:
        def run():
            for i in range(n):
                with transaction.atomic():
                    tasks.noop_handler.enqueue(i)

        return timed(run)

    def bare() -> float:
        queue = bare_queue()
        return timed(lambda: [queue.enqueue(tasks.noop, i) for i in range(n)])

    return mine, bare


def enqueue_in_bulk(n: int):
    from rq import Queue

    from bench import tasks

    def mine() -> float:
        return timed(lambda: tasks.noop_handler.enqueue_many([(i,) for i in range(n)]))

    def bare() -> float:
        queue = bare_queue()
        return timed(lambda: queue.enqueue_many([Queue.prepare_data(tasks.noop, (i,)) for i in range(n)]))

    return mine, bare


def run_jobs(n: int, *, forking: bool, failing: bool = False):
    import django_rq
    import rq
    from rq import Queue, Retry

    from bench import tasks
    from jobs_app import worker as jobs_worker

    def mine() -> float:
        handler = tasks.fail_handler if failing else tasks.noop_handler
        handler.enqueue_many([(i,) for i in range(n)])
        worker_class = jobs_worker.Worker if forking else jobs_worker.SimpleWorker
        return in_child(
            lambda: timed(
                lambda: django_rq.get_worker("default", worker_class=worker_class).work(burst=True, logging_level=QUIET)
            )
        )

    def bare() -> float:
        queue = bare_queue()
        function = tasks.fail if failing else tasks.noop
        retry = Retry(max=2) if failing else None
        queue.enqueue_many([Queue.prepare_data(function, (i,), retry=retry) for i in range(n)])
        worker_class = rq.Worker if forking else rq.SimpleWorker
        return in_child(
            lambda: timed(
                lambda: worker_class([queue], connection=queue.connection, serializer=queue.serializer).work(
                    burst=True, logging_level=QUIET
                )
            )
        )

    return mine, bare


POOL_PROCESSES = 4


def attempts_span(n: int) -> float:
    """jobs_app: seconds from the first attempt's start to the last attempt's end, from the JobAttempt rows."""
    from django.db.models import Max, Min

    from jobs_app.models import Job, JobAttempt
    from jobs_app.states import State

    done = Job.objects.filter(state=State.SUCCEEDED).count()
    if done != n:
        raise RuntimeError(f"the pool finished {done} of {n} jobs")
    span = JobAttempt.objects.aggregate(start=Min("started_at"), end=Max("finished_at"))
    return (span["end"] - span["start"]).total_seconds()


def rq_span(queue, job_ids: list[str]) -> float:
    """Bare RQ: seconds from the first start to the last end in RQ's job records (a retried job keeps its
    retry's start, so the first start can only be read later than it was: in bare RQ's favour)."""
    from rq.utils import utcparse

    with queue.connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.hmget(f"rq:job:{job_id}", "status", "started_at", "ended_at")
        records = pipeline.execute()
    unfinished = sum(1 for status, _started, _ended in records if status != b"finished")
    if unfinished:
        raise RuntimeError(f"bare RQ left {unfinished} of {len(job_ids)} jobs unfinished")
    starts = [utcparse(started.decode()) for _status, started, _ended in records]
    ends = [utcparse(ended.decode()) for _status, _started, ended in records]
    return (max(ends) - min(starts)).total_seconds()


def multi_worker(n: int, *, bare_forking: bool):
    """4 processes a side, `n` no-op jobs of which 30% fail once: jobs_app's pool (`manage.py jobs_worker`)
    against 4 bare RQ forking workers (`rq worker`) or 4 bare SimpleWorkers."""
    import rq
    from rq import Queue, Retry

    from bench import tasks
    from jobs_app import transport
    from jobs_app.pool import WorkerPool

    def mine() -> tuple[float, float]:
        tasks.fail_once_handler.enqueue_many([(i,) for i in range(n)])
        pool = WorkerPool(["default"], connection=transport.connection("default"), num_workers=POOL_PROCESSES)
        _seconds, rss = in_child(lambda: timed(lambda: pool.start(burst=True, logging_level=QUIET)))
        return attempts_span(n), rss

    def bare() -> float:
        queue = bare_queue()
        jobs = queue.enqueue_many([Queue.prepare_data(tasks.fail_once, (i,), retry=Retry(max=1)) for i in range(n)])
        worker_class = rq.Worker if bare_forking else rq.SimpleWorker

        def work() -> None:
            worker_class([queue], connection=queue.connection, serializer=queue.serializer).work(
                burst=True, logging_level=QUIET
            )

        from django.db import connections

        connections.close_all()
        processes = [get_context("fork").Process(target=work) for _ in range(POOL_PROCESSES)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        return rq_span(queue, [job.id for job in jobs])

    return mine, bare


def rerun_failed(n: int):
    from django.utils import timezone
    from rq.job import JobStatus
    from rq.registry import FailedJobRegistry

    from bench import tasks
    from jobs_app import services
    from jobs_app.models import Job
    from jobs_app.states import State

    def mine() -> float:
        jobs = tasks.noop_handler.enqueue_many([(i,) for i in range(n)])
        Job.objects.filter(pk__in=[job.pk for job in jobs]).update(
            state=State.FAILED, attempts=3, failed_at=timezone.now()
        )
        result: list[services.RerunResult] = []
        seconds = timed(lambda: result.append(services.rerun(Job.objects.failed())))
        if result[0].retried != n:
            raise RuntimeError(f"re-ran {result[0].retried} of {n} failed jobs")
        return seconds

    def bare() -> float:
        from rq import Queue

        queue = bare_queue()
        jobs = queue.enqueue_many([Queue.prepare_data(tasks.noop, (i,)) for i in range(n)])
        registry = FailedJobRegistry(queue=queue)
        with queue.connection.pipeline() as pipeline:
            pipeline.delete(queue.key)
            for job in jobs:
                job.set_status(JobStatus.FAILED, pipeline=pipeline)
                registry.add(job, ttl=3600, exc_string="RuntimeError: failed", pipeline=pipeline)
            pipeline.execute()

        def requeue_all():
            for job_id in registry.get_job_ids():
                registry.requeue(job_id)

        return timed(requeue_all)

    return mine, bare


# --- scale cases: one side only, a small and a large size, judged on time, queries and memory ------------------


@dataclass
class ScaleCase:
    name: str
    target: str
    sizes: tuple[int, int]
    seconds: dict[int, list[float]] = field(default_factory=dict)
    queries: dict[int, int] = field(default_factory=dict)
    rss_mb: dict[int, float] = field(default_factory=dict)
    passed: bool | None = None

    def median(self, size: int) -> float:
        return statistics.median(self.seconds[size])

    @property
    def growth(self) -> float:
        """How many times longer the large size takes than the small one."""
        small, large = self.sizes
        return self.median(large) / self.median(small)


def add_failed_jobs(count: int, *, batch: int = 5000, fingerprints: Sequence[str] = ()) -> None:
    """`count` more failed jobs of the no-op handler, all failed an hour ago (due for the sweeper), spread
    over the failure groups `fingerprints` if given."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs_app.models import Job
    from jobs_app.policy import Backoff
    from jobs_app.states import State

    long_ago = timezone.now() - timedelta(hours=1)
    backoff = Backoff.fixed(0).to_dict()
    for start in range(0, count, batch):
        Job.objects.bulk_create(
            Job(
                handler="bench.noop",
                queue="default",
                args=[n],
                state=State.FAILED,
                attempts=3,
                max_attempts=3,
                backoff=backoff,
                created_at=long_ago,
                failed_at=long_ago,
                finished_at=long_ago,
                error_type="RuntimeError",
                error_message="benchmark failure",
                fingerprint=fingerprints[n % len(fingerprints)] if fingerprints else "",
            )
            for n in range(start, min(count, start + batch))
        )


SWEEP_PASS = """
import json, re, time, django
django.setup()
from jobs_app import sweeper
started = time.perf_counter()
result = sweeper.sweep()
seconds = time.perf_counter() - started
# The process's own peak: getrusage would also count the parent's memory, inherited through vfork at exec.
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
outcome = {"seconds": seconds, "retried": result.retried, "repaired": result.repaired, "peak_mb": peak_kb / 1024}
print(json.dumps(outcome))
"""


def sweep_in_process() -> dict:
    """One sweeper pass in a process of its own: its seconds, counts and peak RSS."""
    import subprocess

    from django.db import connections

    connections.close_all()
    completed = subprocess.run(
        [sys.executable, "-c", SWEEP_PASS], cwd=ROOT, capture_output=True, text=True, env=os.environ.copy()
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the sweeper pass failed: {completed.stderr}")
    return json.loads(completed.stdout)


def add_queued_jobs(count: int, *, batch: int = 5000) -> None:
    """`count` more queued jobs of the no-op handler, created an hour ago and waiting on RQ's queue (a backlog)."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs_app import services, transport
    from jobs_app.models import Job
    from jobs_app.policy import Backoff
    from jobs_app.states import State

    long_ago = timezone.now() - timedelta(hours=1)
    backoff = Backoff.fixed(0).to_dict()
    for start in range(0, count, batch):
        jobs = Job.objects.bulk_create(
            Job(
                handler="bench.noop",
                queue="default",
                args=[n],
                state=State.QUEUED,
                backoff=backoff,
                created_at=long_ago,
            )
            for n in range(start, min(count, start + batch))
        )
        transport.push([services.dispatch_of(job) for job in jobs])


QUEUED_PASSES = 3


def sweeper_pass_over_queued(case: ScaleCase, size: int) -> None:
    """A sweeper pass over `size` queued jobs with nothing lost, the pass a sweeper makes each minute: after
    a first pass (which, in a Redis never verified, looks every job up once; its time is printed).

    The best of `QUEUED_PASSES` passes: a pass takes milliseconds, where a busy machine's noise alone
    doubles a single measurement."""
    add_queued_jobs(size)
    first = sweep_in_process()
    outcomes = [sweep_in_process() for _ in range(QUEUED_PASSES)]
    repaired = [first["repaired"], *(outcome["repaired"] for outcome in outcomes)]
    if any(repaired):
        raise RuntimeError(f"the sweeper repaired {repaired} job(s) pass after pass: nothing was lost")
    print(f"  (the first pass, with every job looked up once: {first['seconds']:.2f} s)", flush=True)
    case.seconds.setdefault(size, []).append(min(outcome["seconds"] for outcome in outcomes))
    case.rss_mb[size] = max(case.rss_mb.get(size, 0), *(outcome["peak_mb"] for outcome in outcomes))


def sweeper_pass(case: ScaleCase, size: int) -> None:
    """One `retry_failed` pass over `size` due failed jobs, in its own process: its time and peak RSS."""
    add_failed_jobs(size)
    outcome = sweep_in_process()
    if outcome["retried"] != size:
        raise RuntimeError(f"the sweeper re-ran {outcome['retried']} of {size} jobs")
    case.seconds.setdefault(size, []).append(outcome["seconds"])
    case.rss_mb[size] = max(case.rss_mb.get(size, 0), outcome["peak_mb"])


def admin_client():
    """A superuser's test client, after the planner statistics the sweeper refreshes once an hour (SQLite)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from jobs_app import sweeper, transport

    transport.connection("default").flushdb()  # as if an hour had passed since the last statistics
    sweeper.refresh_planner_statistics()
    user, _created = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def admin_failed_list(case: ScaleCase, size: int) -> None:
    """The admin's failed-jobs list with `size` failed jobs: the median of five loads, and its SQL queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs_app.models import Job

    add_failed_jobs(size - Job.objects.count())
    client = admin_client()
    url = "/admin/jobs_app/failedjob/"
    client.get(url)  # warm caches: templates, the content types, the session
    for _ in range(5):
        with CaptureQueriesContext(connection) as queries:
            seconds = timed(lambda: client.get(url))
        case.seconds.setdefault(size, []).append(seconds)
    case.queries[size] = len(queries.captured_queries)


GROUPS = 1000


def add_grouped_failed_jobs(count: int, *, batch: int = 5000) -> list[str]:
    """`count` more failed jobs spread over `GROUPS` failure groups (created once); the groups' fingerprints."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs_app.groups import hour_of
    from jobs_app.models import FailureGroup

    now = timezone.now()
    fingerprints = [f"{index:016x}" for index in range(GROUPS)]
    FailureGroup.objects.bulk_create(
        [
            FailureGroup(
                fingerprint=value,
                handler="bench.noop",
                error_type="bench.errors.Upstream",
                message=f"upstream {index} returned <n>",
                first_seen=now - timedelta(hours=3),
                last_seen=now - timedelta(seconds=index),
                occurrences=1,
                hourly={str(hour_of(now) - hours): index % 7 + hours for hours in range(0, 48, 3)},
            )
            for index, value in enumerate(fingerprints)
        ],
        ignore_conflicts=True,
    )
    add_failed_jobs(count, batch=batch, fingerprints=fingerprints)
    return fingerprints


def admin_failure_groups(case: ScaleCase, size: int) -> None:
    """The failure-groups list and one group's page with `size` failed jobs over 1,000 groups: the median of
    five loads of both, and their SQL queries together."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs_app.models import Job

    fingerprints = add_grouped_failed_jobs(size - Job.objects.count())
    client = admin_client()
    urls = ["/admin/jobs_app/failuregroup/", f"/admin/jobs_app/failuregroup/{fingerprints[0]}/change/"]

    def load() -> None:
        for url in urls:
            if client.get(url).status_code != 200:
                raise RuntimeError(f"{url} did not answer 200")

    load()  # warm caches
    for _ in range(5):
        with CaptureQueriesContext(connection) as queries:
            seconds = timed(load)
        case.seconds.setdefault(size, []).append(seconds)
    case.queries[size] = len(queries.captured_queries)


def add_mixed_jobs(count: int, *, batch: int = 10_000) -> None:
    """`count` more jobs in a production-like mix: mostly succeeded, some dead, failed, cancelled and waiting."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs_app.models import Job
    from jobs_app.states import State

    now = timezone.now()
    mix = [State.SUCCEEDED] * 90 + [State.DEAD] * 4 + [State.FAILED] * 2 + [State.CANCELLED] * 2 + [State.QUEUED] * 2
    queues = ("default", "email", "cleanup")
    for start in range(0, count, batch):
        rows = []
        for n in range(start, min(count, start + batch)):
            state = mix[n % len(mix)]
            ended = now - timedelta(seconds=n % 86_400)
            failed = state in (State.FAILED, State.DEAD)
            rows.append(
                Job(
                    handler=f"bench.handler{n % 20}",
                    queue=queues[n % 3],
                    state=state,
                    attempts=1,
                    created_at=ended,
                    finished_at=ended if state not in (State.QUEUED,) else None,
                    failed_at=ended if failed else None,
                )
            )
        Job.objects.bulk_create(rows)


def prometheus_scrape(case: ScaleCase, size: int) -> None:
    """GET /api/jobs/metrics/prometheus with `size` jobs, timed: scrapes within the snapshot period (the usual
    ones) and scrapes just after it (answered from the old snapshot while a thread counts again). The very first
    scrape, with no snapshot yet, counts in the request: its time is printed."""
    import json

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from jobs_app import metrics, prometheus, sweeper, transport
    from jobs_app.api.tokens import issue_token
    from jobs_app.models import Job

    add_mixed_jobs(size - Job.objects.count())
    sweeper.refresh_planner_statistics()
    for handler in range(20):
        for outcome in ("succeeded", "failed"):
            metrics.record_attempt(f"bench.handler{handler}", outcome, 0.1 * handler)
    # A scrape needs the jobs view permission (as any API read); a superuser has it.
    user, _created = get_user_model().objects.get_or_create(
        username="bench-scrape", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost", headers={"Authorization": f"Bearer {issue_token(user, name='bench')[1]}"})
    url = "/api/jobs/metrics/prometheus"
    first = []
    for _ in range(3):
        transport.delete_key(prometheus.SNAPSHOT_KEY)  # no snapshot yet: this scrape counts
        first.append(timed(lambda: client.get(url)))
    assert client.get(url).status_code == 200, "the bench's scrape was refused"
    for run in range(6):
        if run % 2:  # the period is over: the old snapshot answers, a thread counts again
            snapshot = json.loads(transport.read_value(prometheus.SNAPSHOT_KEY))
            transport.write_value(prometheus.SNAPSHOT_KEY, json.dumps({**snapshot, "at": 0}), ttl=300)
            transport.delete_key("jobs_app:metrics:refreshing")
        with CaptureQueriesContext(connection) as queries:
            seconds = timed(lambda: client.get(url))
        case.seconds.setdefault(size, []).append(seconds)
        time.sleep(1)  # let a background count finish before the next scrape
    case.queries[size] = len(queries.captured_queries)
    assert client.get(url).status_code == 200
    print(f"  {size:,} jobs: the first scrape (no snapshot yet) takes {statistics.median(first):.3f} s")


SCALE_CASES = [
    # name, target, measure(case, size), uses up its jobs, sizes, quick sizes, pass test
    (
        "sweeper pass over due failed jobs",
        "≤ 30 s, ≤ 200 MB, 10x jobs ≤ 11x time",
        sweeper_pass,
        True,
        (10_000, 100_000),
        (1000, 10_000),
        lambda case: case.median(case.sizes[1]) <= 30 and max(case.rss_mb.values()) <= 200 and case.growth <= 11,
    ),
    (
        "sweeper pass over queued jobs, none lost",
        "< 2 s, 10x jobs ≤ 2x time",
        sweeper_pass_over_queued,
        True,
        (10_000, 100_000),
        (1000, 10_000),
        lambda case: case.median(case.sizes[1]) < 2 and case.growth <= 2,
    ),
    (
        "admin failed-jobs list",
        "same queries, time ≤ 2x",
        admin_failed_list,
        False,
        (1000, 200_000),
        (1000, 10_000),
        lambda case: case.queries[case.sizes[0]] == case.queries[case.sizes[1]] and case.growth <= 2,
    ),
    (
        "admin failure groups, 1,000 groups",
        "same queries, time ≤ 2x",
        admin_failure_groups,
        False,
        (1000, 200_000),
        (1000, 10_000),
        lambda case: case.queries[case.sizes[0]] == case.queries[case.sizes[1]] and case.growth <= 2,
    ),
    (
        "prometheus scrape",
        "≤ 200 ms at the large size",
        prometheus_scrape,
        False,
        (10_000, 1_000_000),
        (1000, 10_000),
        lambda case: case.median(case.sizes[1]) <= 0.2,
    ),
]


def measure_scale(quick: bool, repeats: int, only: str | None) -> list[ScaleCase]:
    cases = []
    selected = [entry for entry in SCALE_CASES if not only or only in entry[0]]
    for index, (name, target, action, uses_up, sizes, quick_sizes, passes) in enumerate(selected, start=1):
        case = ScaleCase(name=name, target=target, sizes=quick_sizes if quick else sizes)
        reset()
        for size in case.sizes:
            # The large size once: its seeding alone takes a minute.
            runs = repeats if size == case.sizes[0] else 1
            for run in range(1, runs + 1):
                if uses_up:
                    reset()
                action(case, size)
                print(
                    f"[scale {index}/{len(selected)}] {name}, {size:,} jobs: run {run}/{runs}: "
                    f"{case.seconds[size][-1]:.2f} s",
                    flush=True,
                )
        case.passed = passes(case)
        cases.append(case)
    return cases


def print_scale_table(cases: list[ScaleCase]) -> None:
    if not cases:
        return
    header = (
        f"{'case':<36} {'small':>16} {'large':>18} {'growth':>7} {'queries':>9} {'peak RSS':>9}  {'target':<38} result"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for case in cases:
        small, large = case.sizes
        queries = f"{case.queries[small]}/{case.queries[large]}" if case.queries else ""
        rss = f"{max(case.rss_mb.values()):.0f} MB" if case.rss_mb else ""
        print(
            f"{case.name:<36} {f'{small:,}: {case.median(small):.3f} s':>16} "
            f"{f'{large:,}: {case.median(large):.3f} s':>18} "
            f"{case.growth:>6.1f}x {queries:>9} {rss:>9}  {case.target:<38} {'pass' if case.passed else 'FAIL'}"
        )


POOL_VS_FORKING = "pool x4 vs forking rq worker x4, 30% fail once"
POOL_VS_SIMPLE = "pool x4 vs SimpleWorker x4, 30% fail once"
MULTI_WORKER = "x4, 30% fail once"  # --only this: both multi-worker cases

CASES = [
    # name, target (ratio floor), builder, n, quick n, at most this many runs per side (the slow ones fewer,
    # so that `make bench` stays within ten minutes)
    ("enqueue, one job a transaction", 0.8, enqueue_one_by_one, 2000, 200, 3),
    ("enqueue_many, bulk", 0.9, enqueue_in_bulk, 10_000, 1000, 3),
    ("run no-op jobs, SimpleWorker", 0.9, lambda n: run_jobs(n, forking=False), 2000, 200, 2),
    ("run no-op jobs, forking Worker", 0.9, lambda n: run_jobs(n, forking=True), 2000, 100, 1),
    ("jobs failing 3 attempts, 0 backoff", 0.9, lambda n: run_jobs(n, forking=False, failing=True), 1000, 100, 1),
    ("re-run failed jobs in bulk", 5.0, rerun_failed, 10_000, 1000, 3),
    # jobs/s from the records: first attempt's start to last attempt's end. Also run on PostgreSQL.
    (POOL_VS_FORKING, 6.0, lambda n: multi_worker(n, bare_forking=True), 2000, 100, 1),
    (POOL_VS_SIMPLE, 0.9, lambda n: multi_worker(n, bare_forking=False), 2000, 200, 3),
]


def _database_label(name: str) -> str:
    """The multi-worker cases run on SQLite and on PostgreSQL: their names say which."""
    from django.db import connection

    return f", {connection.display_name}" if MULTI_WORKER in name else ""


def on_postgres(quick: bool, repeats: int, only: str | None) -> tuple[list[Case], str | None]:
    """The multi-worker cases again, on a throwaway PostgreSQL cluster, in a `bench.run` of their own.

    Returns the cases, or none and the reason they were skipped.
    """
    import subprocess
    import tempfile

    from bench import postgres

    only = only or MULTI_WORKER
    if not any(only in name and MULTI_WORKER in name for name, *_rest in CASES):
        return [], None
    reason = postgres.skip_reason()
    if reason:
        print(f"PostgreSQL cases skipped: {reason}", flush=True)
        return [], reason
    with postgres.cluster() as url, tempfile.TemporaryDirectory() as directory:
        results = Path(directory) / "results.json"
        command = [
            sys.executable,
            "-m",
            "bench.run",
            "--only",
            only,
            "--repeats",
            str(repeats),
            "--results",
            str(results),
        ]
        subprocess.run([*command, *(["--quick"] if quick else [])], cwd=ROOT, check=True,
                       env={**os.environ, "DATABASE_URL": url})  # fmt: skip
        fields = set(Case.__dataclass_fields__)
        cases = [Case(**{key: value for key, value in case.items() if key in fields})
                 for case in json.loads(results.read_text())["cases"]]  # fmt: skip
    return cases, None


def measure(quick: bool, repeats: int, only: str | None) -> list[Case]:
    cases = []
    selected = [entry for entry in CASES if not only or only in entry[0]]
    for index, (name, floor, builder, n, quick_n, most_runs) in enumerate(selected, start=1):
        n = quick_n if quick else n
        case = Case(name=f"{name} ({n:,}{_database_label(name)})", target=f"≥ {floor:g}")
        mine, bare = builder(n)
        runs = min(repeats, most_runs)
        for run in range(1, runs + 1):
            for side, action in (("jobs_app", mine), ("bare", bare)):
                reset()
                outcome = action()
                seconds, rss = outcome if isinstance(outcome, tuple) else (outcome, None)
                getattr(case, side).append(n / seconds)
                if rss is not None and side == "jobs_app":
                    case.rss_mb.append(rss)
            print(
                f"[{index}/{len(selected)}] {case.name}: run {run}/{runs}: "
                f"jobs_app {case.jobs_app[-1]:,.0f}/s, bare RQ {case.bare[-1]:,.0f}/s",
                flush=True,
            )
        case.passed = case.ratio is not None and case.ratio >= floor
        cases.append(case)
    return cases


def print_table(cases: list[Case]) -> None:
    if not cases:
        return
    width = max(46, *(len(case.name) for case in cases))
    header = f"{'case':<{width}} {'jobs_app/s':>11} {'bare RQ/s':>11} {'ratio':>7} {'target':>7} {'result':>6}"
    header += f" {'peak RSS':>9}"
    print("\n" + header + "\n" + "-" * len(header))
    for case in cases:
        mine, bare = case.median("jobs_app"), case.median("bare")
        rss = f"{max(case.rss_mb):.0f} MB" if case.rss_mb else ""
        print(
            f"{case.name:<{width}} {mine or 0:>11,.0f} {bare or 0:>11,.0f} {case.ratio or 0:>7.2f} {case.target:>7} "
            f"{'pass' if case.passed else 'FAIL':>6} {rss:>9}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small numbers, to prove the benchmark runs (CI)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per side and case (default 3, quick 1)")
    parser.add_argument("--only", help="run the cases whose name contains this text")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON results")
    options = parser.parse_args()
    given_database = bool(os.environ.get("DATABASE_URL"))
    repeats = options.repeats or (1 if options.quick else 3)
    server = setup_environment(options.quick)
    try:
        from django.db import connection

        started = time.perf_counter()
        cases = measure(options.quick, repeats, options.only)
        scale_cases = measure_scale(options.quick, repeats, options.only)
        postgres_skipped = None
        if not given_database:  # the default run (SQLite) also runs the multi-worker cases on PostgreSQL
            postgres_cases, postgres_skipped = on_postgres(options.quick, repeats, options.only)
            cases += postgres_cases
        print_table(cases)
        print_scale_table(scale_cases)
        options.results.write_text(
            json.dumps(
                {
                    "quick": options.quick,
                    "repeats": repeats,
                    "database": connection.vendor,
                    "postgres_skipped": postgres_skipped,
                    "machine": {
                        "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "system": platform.platform(),
                    },
                    "seconds": round(time.perf_counter() - started, 1),
                    "cases": [{**asdict(case), "ratio": case.ratio} for case in cases],
                    "scale_cases": [{**asdict(case), "growth": case.growth} for case in scale_cases],
                },
                indent=2,
            )
        )
        print(f"\nWritten to {options.results} ({time.perf_counter() - started:.0f}s)")
    finally:
        server.stop()
    # A missed target is a finding, reported in the table; the run itself succeeded.
    return 0


if __name__ == "__main__":
    sys.exit(main())
