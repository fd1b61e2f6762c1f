"""Redis high availability as production runs it: every queue through Redis Sentinel (a primary, a
replica, three sentinels), and the primary killed under load. Enqueue, workers, the sweeper, locks and
breakers follow the failover, and every job still ends `succeeded`, run once.

A guaranteed behaviour (docs/guarantees.md), so a plain test. What it found on the way: a job popped as
the primary died, the repair lock and verified mark left on the new primary (tests/test_repair.py), and a
command in flight as the primary died re-sent to the dead primary for ever, which hung a worker about one
run in fifteen (tests/test_transport_sentinel.py). When it times out it says where every worker is."""

import os
import signal
from contextlib import suppress

import pytest
from django.conf import settings
from django.test import override_settings
from redis import Redis

from jobs_app import transport
from jobs_app.breaker import Breaker
from jobs_app.models import Job
from jobs_app.stats import current_jobs
from jobs_app.testing import SentinelCluster
from tests.faults.consistency import assert_consistent
from tests.faults.processes import Processes, descendants
from tests.polling import wait_for
from tests.testapp import fault_handlers

pytestmark = [pytest.mark.faults, pytest.mark.subprocess, pytest.mark.django_db(transaction=True)]

BEFORE, DURING = 150, 150  # jobs enqueued before the primary is killed, and while it fails over
WORKERS = ("faults-sentinel-1", "faults-sentinel-2")


@pytest.fixture
def sentinel_cluster():
    """A primary, a replica and three sentinels; this test's RQ_QUEUES all point at them."""
    with SentinelCluster() as cluster:
        queues = {
            name: {**{key: value for key, value in config.items() if key != "URL"}, **cluster.queue_settings()}
            for name, config in settings.RQ_QUEUES.items()
        }
        with override_settings(RQ_QUEUES=queues):  # resets transport's cached connections
            yield cluster


@pytest.fixture
def fault_env(subprocess_env, sentinel_cluster):
    """The subprocesses' settings read the sentinels from FAULTS_SENTINELS (tests/faults/settings.py)."""
    return {
        **subprocess_env,
        "DJANGO_SETTINGS_MODULE": "tests.faults.settings",
        "FAULTS_SENTINELS": ",".join(f"{host}:{port}" for host, port in sentinel_cluster.addresses),
        "FAULTS_SENTINEL_MASTER": sentinel_cluster.master_name,
        "FAULTS_REPAIR_GRACE": "1",
        "JOBS_LOG_LEVEL": "INFO",
    }


def unfinished() -> int:
    return Job.objects.exclude(state__in=[Job.State.SUCCEEDED, Job.State.DEAD]).count()


def diagnose(processes: Processes, new_primary: int) -> str:
    """What a stuck run looks like: the unfinished rows, the RQ queues and workers on the new primary, and
    every thread's stack of every worker process and work horse (faulthandler on SIGUSR2, into its log)."""
    stacks = "(most recent call first)"
    before = {name: processes.log(name).count(stacks) for name in WORKERS}
    for name in WORKERS:
        for pid in [processes.started[name].pid, *descendants(processes.started[name].pid)]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGUSR2)
    with suppress(AssertionError):
        wait_for(lambda: all(processes.log(name).count(stacks) > before[name] for name in WORKERS), timeout=10)
    primary = Redis(port=new_primary)
    rows = list(Job.objects.exclude(state=Job.State.SUCCEEDED).values_list("pk", "state", "worker_name")[:20])
    return "\n".join(
        [
            f"{unfinished()} unfinished, the first: {rows}",
            f"RQ queues: { {key.decode(): primary.llen(key) for key in primary.keys('rq:queue:*')} }",
            f"RQ workers: {[(key.decode(), primary.hget(key, 'current_job')) for key in primary.keys('rq:worker:*')]}",
            "Clients of the new primary:",
            *(str(client) for client in primary.client_list()),
            f"The stacks are in the workers' logs under {processes.log_dir}",
        ]
    )


def test_every_job_ends_once_after_the_sentinels_fail_over_from_a_killed_primary(sentinel_cluster, processes, tmp_path):
    directory = tmp_path / "runs"
    directory.mkdir()
    workers = [processes.worker(name) for name in WORKERS]
    processes.manage("sweeper", "retry_failed", "--interval", "1")
    wait_for(lambda: set(WORKERS) <= set(current_jobs()), message="the workers to register through the sentinels")

    jobs = [fault_handlers.count.enqueue(str(directory)) for _ in range(BEFORE)]
    wait_for(lambda: Job.objects.filter(state=Job.State.SUCCEEDED).count() >= BEFORE // 5, message="some jobs to run")
    sentinel_cluster.kill_primary()  # under load: jobs queued, running, and being recorded
    jobs += [fault_handlers.count.enqueue(str(directory)) for _ in range(DURING)]
    new_primary = sentinel_cluster.wait_for_failover()

    try:
        wait_for(lambda: not unfinished(), timeout=180, message="every job to finish after the failover")
    except AssertionError:
        raise AssertionError(diagnose(processes, new_primary)) from None
    assert set(Job.objects.values_list("state", flat=True)) == {Job.State.SUCCEEDED}
    runs = {job.pk: len(list(directory.glob(f"ran-{job.pk}-*"))) for job in jobs}
    assert [pk for pk, count in runs.items() if count != 1] == []  # none lost, none run twice
    # Workers, locks, alert flags and breakers all live on the new primary now.
    assert [worker.poll() for worker in workers] == [None, None]
    assert transport.control_connection().info("server")["tcp_port"] == new_primary
    assert transport.lock("sentinel-test", timeout=5).acquire()
    assert transport.set_once("sentinel-test", ttl=5)
    assert Breaker("test-whatsapp").acquire().allowed
    assert_consistent()
