"""transport with Redis Sentinel: the connections that wait through an outage follow a failover."""

from __future__ import annotations

import threading
import time

from redis import Redis, RedisError
from redis.sentinel import Sentinel

from jobs_app import transport
from jobs_app.testing import SentinelCluster
from tests.polling import wait_for


def test_a_command_in_flight_as_the_primary_dies_carries_on_on_the_primary_the_sentinels_promote():
    """A waiting connection (a worker's, its work horse's, its scheduler's) asks the sentinels again when it
    re-sends a failed command; redis-py alone re-sent it to the dead primary's address for ever."""
    with SentinelCluster() as cluster:
        deadline = time.monotonic() + 30  # a connection that never finds the new primary gives up here
        base = Sentinel(cluster.addresses).master_for(cluster.master_name)
        client = transport.waiting_connection(base, transport.OutageRetry("test", lambda: time.monotonic() > deadline))
        outcome: dict[str, object] = {}

        def pop() -> None:
            try:
                outcome["popped"] = client.blpop(["in-flight"], timeout=20)
            except RedisError as error:
                outcome["error"] = error

        def blocked_on(port: int) -> bool:
            return any(entry["cmd"] == "blpop" for entry in Redis(port=port).client_list())

        thread = threading.Thread(target=pop)
        thread.start()
        wait_for(lambda: blocked_on(cluster.primary.port), timeout=10, message="the pop to block on the primary")
        cluster.kill_primary()
        new_primary = cluster.wait_for_failover()
        wait_for(lambda: blocked_on(new_primary), timeout=20, message="the pop to be re-sent to the new primary")
        Redis(port=new_primary).rpush("in-flight", "job")
        thread.join(timeout=30)

    assert outcome == {"popped": (b"in-flight", b"job")}
