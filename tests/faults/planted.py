"""Planted and damaged RQ entries, as an attacker with access to Redis (or a bad disk) would leave them:
a job hash that names a forbidden callable or callback, or that RQ cannot read, put in each place
an RQ worker or scheduler loads jobs from. Used by tests/test_worker.py and the faults suite."""

from __future__ import annotations

import json
import time
import uuid
import zlib

from redis import Redis

from jobs_app import transport
from jobs_app.worker import QUARANTINE_PREFIX

# What is wrong with the planted job hash: field -> value written over a valid jobs_app RQ job.
BREAKAGES = {
    "forbidden failure callback": {"failure_callback_name": "os.abort"},
    "forbidden function": {"data": zlib.compress(json.dumps(["os.system", None, ["true"], {}]).encode())},
    "forbidden success callback": {"success_callback_name": "os.abort"},
    "forbidden stopped callback": {"stopped_callback_name": "os.abort"},
    "data not JSON": {"data": b"\x80\x04not json"},
    "data of the wrong shape": {"data": zlib.compress(b'{"func": "jobs_app.runner.execute"}')},
    "a bad date": {"created_at": "yesterday"},
    "a bad status": {"status": "exploded"},
    "a bad timeout": {"result_ttl": "forever"},
}
MISSING_DATA = "no data field"


def plant_job(redis: Redis, breakage: str | None, queue: str = "default") -> str:
    """A job hash that looks like jobs_app's own (entry point, JSON, queue `queue`), broken by `breakage`
    (None: a valid one, for a job with no row)."""
    job_id = str(uuid.uuid4())
    key = f"rq:job:{job_id}"
    redis.hset(
        key,
        mapping={
            "data": zlib.compress(json.dumps([transport.ENTRY_POINT, None, [str(uuid.uuid4())], {}]).encode()),
            "created_at": "2026-01-01T00:00:00.000000Z",
            "enqueued_at": "2026-01-01T00:00:00.000000Z",
            "origin": queue,
            "status": "queued",
            "timeout": "180",
            "description": "planted",
        },
    )
    if breakage == MISSING_DATA:
        redis.hdel(key, "data")
    elif breakage is not None:
        redis.hset(key, mapping=BREAKAGES[breakage])
    return job_id


def place(redis: Redis, where: str, job_id: str, queue: str = "default") -> None:
    """Put `job_id` where RQ will find it: a registry (due or expired), a list, a dependents set."""
    long_ago, later = 1, time.time() + 3600
    if where == "started":  # expired: RQ's cleanup of abandoned jobs loads it (the original defect)
        redis.zadd(f"rq:wip:{queue}", {f"{job_id}:{uuid.uuid4().hex}": long_ago})
    elif where == "scheduled":  # due: the scheduler loads it
        redis.zadd(f"rq:scheduled:{queue}", {job_id: long_ago})
    elif where in ("failed", "finished", "canceled", "deferred"):
        redis.zadd(f"rq:{where}:{queue}", {job_id: later})
    elif where == "intermediate":
        redis.rpush(f"rq:queue:{queue}:intermediate", job_id)
    elif where == "queue":
        redis.rpush(f"rq:queue:{queue}", job_id)
        redis.sadd("rq:queues", f"rq:queue:{queue}")
    elif where == "dependents":
        # A valid parent abandoned in the started registry: cleaning it up enqueues its dependents.
        parent = plant_job(redis, None)
        redis.sadd(f"rq:job:{parent}:dependents", job_id)
        redis.hset(f"rq:job:{job_id}", "dependency_ids", json.dumps([parent]))
        redis.zadd(f"rq:deferred:{queue}", {job_id: later})
        place(redis, "started", parent, queue)
    else:
        raise ValueError(where)


PLACES = ("started", "failed", "finished", "canceled", "deferred", "scheduled", "intermediate", "queue", "dependents")


def is_quarantined(redis: Redis, job_id: str) -> bool:
    return bool(redis.exists(f"{QUARANTINE_PREFIX}{job_id}")) and not redis.exists(f"rq:job:{job_id}")


def still_placed(redis: Redis, job_id: str, queue: str = "default") -> list[str]:
    """Where `job_id` is still referenced in `queue`'s RQ keys (empty once it is gone everywhere)."""
    found = []
    for registry in ("wip", "scheduled", "failed", "finished", "canceled", "deferred"):
        if any(member.decode().startswith(job_id) for member in redis.zrange(f"rq:{registry}:{queue}", 0, -1)):
            found.append(registry)
    for key in (f"rq:queue:{queue}", f"rq:queue:{queue}:intermediate"):
        if job_id.encode() in redis.lrange(key, 0, -1):
            found.append(key)
    return found
