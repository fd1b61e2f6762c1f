"""A throwaway PostgreSQL cluster for the benchmark, started the way CI's `.ci/run` does it:
initdb and pg_ctl in a temporary directory, on a free loopback port, as user postgres when run as root."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def server_binaries() -> Path | None:
    """The directory with `initdb` and `pg_ctl`: Debian's newest /usr/lib/postgresql/*/bin, or PATH's."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(Path(path).parent.name))
    if shutil.which("pg_ctl"):
        candidates.append(str(Path(shutil.which("pg_ctl")).parent))
    for directory in reversed(candidates):
        if all((Path(directory) / name).exists() for name in ("initdb", "pg_ctl", "createdb")):
            return Path(directory)
    return None


def skip_reason() -> str | None:
    """Why the PostgreSQL cases cannot run here, or None when they can."""
    if server_binaries() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin or on PATH"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser, and initdb refuses to run as root"
    return None


@contextmanager
def cluster() -> Iterator[str]:
    """A fresh cluster with a `jobs_app` database, stopped and deleted afterwards: its DATABASE_URL."""
    from jobs_app.testing import free_port

    binaries = server_binaries()
    assert binaries is not None, skip_reason()
    directory = Path(tempfile.mkdtemp(prefix="jobs-bench-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = directory / "data"

    def run(*command: str) -> None:
        subprocess.run([*as_owner, *command], check=True, stdout=subprocess.DEVNULL)

    run(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-h 127.0.0.1 -p {port} -k {directory} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(directory / "log"), "-w", "-o", options, "start")
    try:
        run(str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "jobs_app")
        yield f"postgres://postgres@127.0.0.1:{port}/jobs_app"
    finally:
        subprocess.run([*as_owner, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        shutil.rmtree(directory, ignore_errors=True)
