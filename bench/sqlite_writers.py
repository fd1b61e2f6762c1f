"""SQLite's write lock with several writers: `python -m bench.sqlite_writers [N] [PROCESSES] [ROUNDS]`.

The database part of the multi-worker case alone, without RQ: PROCESSES forked processes (4) claim and record N
jobs (2,000) of the same mix (30% fail their first attempt, then succeed), each its own share, against one SQLite
file. Prints jobs/s and, per attempt, the processes' CPU time, their wait for a core (run queue) and the rest, time
asleep: on SQLite that is the busy handler's sleeps for the write lock (and checkpoints' `fdatasync`). Split with
each process's `/proc/thread-self/schedstat` (Linux). Run it with PROCESSES 1 and 4 to see what the lock costs; see
docs/benchmarks.md, "SQLite's write lock, four writers".
"""

from __future__ import annotations

import os
import sys
import time
from multiprocessing import get_context
from typing import Any

from bench import run


def _schedstat() -> tuple[float, float]:
    """This thread's seconds on a core and waiting for one."""
    with open("/proc/thread-self/schedstat") as stat:
        on_cpu, waiting, _slices = stat.read().split()
    return int(on_cpu) / 1e9, int(waiting) / 1e9


def _writer(job_ids: list, name: str, results: Any) -> None:
    from django.db import connections
    from django.utils import timezone

    from jobs_app import services
    from jobs_app.models import JobAttempt

    connections.close_all()  # its own connection, as a pool process
    cpu, waited = _schedstat()
    started = time.perf_counter()
    for index, job_id in enumerate(job_ids):
        job = services.claim(job_id, worker_name=name)
        if job is None:
            continue
        if index % 10 < 3:
            error = RuntimeError("benchmark failure, once")
            services.end_attempt(job, outcome=JobAttempt.Outcome.FAILED, error=error, give_up_on=(),
                                 started_at=timezone.now(), redelivered_by_rq=True)  # fmt: skip
            job = services.claim(job_id, worker_name=name)
        services.record_success(job, started_at=timezone.now(), result=None)
    wall = time.perf_counter() - started
    cpu_now, waited_now = _schedstat()
    results.put((wall, cpu_now - cpu, waited_now - waited))
    results.close()
    results.join_thread()  # before os._exit, which would drop what the queue has not sent
    connections.close_all()
    os._exit(0)


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    processes = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    run.use_own_sqlite("sqlite_writers")
    server = run.setup_environment(quick=False)
    try:
        from django.db import connections

        from bench import tasks
        from jobs_app.models import JobAttempt

        fork = get_context("fork")
        for round_number in range(1, rounds + 1):
            run.reset()
            ids = [job.pk for job in tasks.fail_once_handler.enqueue_many([(i,) for i in range(n)])]
            share = -(-n // processes)
            connections.close_all()  # none may cross the fork
            results = fork.Queue()
            writers = [
                fork.Process(target=_writer, args=(ids[start : start + share], f"w{start}", results))
                for start in range(0, n, share)
            ]
            started = time.perf_counter()
            for writer in writers:
                writer.start()
            measured = [results.get() for _writer_process in writers]
            for writer in writers:
                writer.join()
            seconds = time.perf_counter() - started
            attempts = JobAttempt.objects.count()
            wall, cpu, waited = (sum(values) for values in zip(*measured, strict=True))
            per = 1000 / attempts
            print(f"round {round_number}: {n / seconds:,.0f} jobs/s, {len(writers)} writer(s), {attempts} attempts; "
                  f"per attempt: CPU {cpu * per:.2f} ms, waiting for a core {waited * per:.2f} ms, "
                  f"asleep {(wall - cpu - waited) * per:.2f} ms", flush=True)  # fmt: skip
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
