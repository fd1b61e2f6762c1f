"""RQ's Redis work per attempt in one pool process: `python -m bench.per_job [N]`.

Runs one `PoolWorker` in burst, in this process, over N jobs of which 30% fail once (as the multi-worker
cases), and prints per attempt: Redis round trips (counted in redis-py), Redis commands (`INFO
commandstats`), where the round trips come from, and the process's CPU time. A throwaway Redis and a
fresh SQLite database, as `bench.run`.
"""

from __future__ import annotations

import collections
import sys
import time

from bench import run

WHERE_DEPTH = 3


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    run.use_own_sqlite("per_job")
    server = run.setup_environment(quick=False)
    try:
        import redis.connection

        from bench import tasks
        from jobs_app import transport
        from jobs_app.pool import PoolWorker

        redis_client = transport.connection("default")
        tasks.fail_once_handler.enqueue_many([(i,) for i in range(n)])
        trips: collections.Counter[str] = collections.Counter()
        send = redis.connection.Connection.send_packed_command

        def counted(self, command, check_health=True):
            frame, names = sys._getframe(1), []
            while frame is not None and len(names) < WHERE_DEPTH:
                filename = frame.f_code.co_filename
                if "/rq/" in filename or "/jobs_app/" in filename:
                    names.append(frame.f_code.co_name)
                frame = frame.f_back
            trips[" < ".join(names)] += 1
            return send(self, command, check_health)

        redis_client.config_resetstat()
        redis.connection.Connection.send_packed_command = counted
        try:
            cpu = time.process_time()
            PoolWorker(["default"], connection=redis_client).work(burst=True, logging_level=run.QUIET)
            cpu = time.process_time() - cpu
        finally:
            redis.connection.Connection.send_packed_command = send
        from jobs_app.models import JobAttempt

        attempts = JobAttempt.objects.count()
        commands = redis_client.info("commandstats")
        print(f"{attempts} attempts, per attempt: CPU {cpu / attempts * 1000:.2f} ms, "
              f"{sum(trips.values()) / attempts:.1f} round trips, "
              f"{sum(stat['calls'] for stat in commands.values()) / attempts:.1f} commands")  # fmt: skip
        for where, count in trips.most_common(12):
            print(f"  {count / attempts:5.2f}  {where}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
