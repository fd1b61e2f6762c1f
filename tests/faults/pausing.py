"""jobs_app's workers, stopped once at a named point of a job's life until the test lets them go on.

`FAULTS_PAUSE_AT` names the point, `FAULTS_PAUSE_DIR` the folder: at the point the worker writes
`paused-<point>` there and waits (up to two minutes) for `go-<point>`. Points:
`before-claim` (the job is dequeued; nothing of it is written yet, neither in RQ nor in the row)
and `recording` (the handler is done and its outcome is in the row; RQ's bookkeeping is next).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from jobs_app.worker import SimpleWorker, Worker


class _Pausing:
    def _pause(self, point: str) -> None:
        directory = os.environ.get("FAULTS_PAUSE_DIR")
        if not directory or os.environ.get("FAULTS_PAUSE_AT") != point:
            return
        paused = Path(directory, f"paused-{point}")
        if paused.exists():  # once
            return
        paused.write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while not Path(directory, f"go-{point}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def execute_job(self, job: Any, queue: Any) -> None:
        self._pause("before-claim")
        super().execute_job(job, queue)

    def handle_job_success(self, *args: Any, **kwargs: Any) -> None:
        self._pause("recording")
        super().handle_job_success(*args, **kwargs)

    def handle_job_retry(self, *args: Any, **kwargs: Any) -> None:
        self._pause("recording")
        super().handle_job_retry(*args, **kwargs)

    def _lean_end(self, *args: Any, **kwargs: Any) -> None:  # jobs_app's own jobs: RQ's bookkeeping in one go
        self._pause("recording")
        super()._lean_end(*args, **kwargs)


class PausingWorker(_Pausing, Worker):
    """jobs_app's forking worker, with the pause points (all three in the worker process: only the handler's
    call runs in a work horse)."""


class PausingSimpleWorker(_Pausing, SimpleWorker):
    """jobs_app's in-process worker (what a pool process runs), with the pause points."""
