"""A handler's call in a process of its own: the forking `Worker`'s work horse.

The worker process claims the job, records its outcome and does RQ's bookkeeping on its own
long-lived connections, as a pool process does; only the handler's call runs in a forked child,
which opens a database or Redis connection only if the handler itself uses one. The child sends
back one line of JSON: the handler's result (already made storable), or an `ErrorReport` of what
it raised. After a failure, when the handler has an `on_retry` or `on_failure` hook, the child
waits for the verdict the worker recorded and runs the hook with the exception itself.

A child that dies without a word (SIGKILL, the OOM killer, `os._exit`) or runs past the job's hard
limit (RQ's time limit, the handler's timeout plus `TIMEOUT_MARGIN`, which the worker enforces by
SIGKILL) ends its attempt `killed`, recorded at once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import signal
import sys
from collections.abc import Callable
from typing import Any

from django.db import connections
from rq.timeouts import JobTimeoutException

from .exceptions import WorkerDied
from .failures import ErrorReport
from .models import JobAttempt

logger = logging.getLogger("jobs_app")

# What the worker sends after a failure: the verdict (`policy.Verdict`'s value), or null when nothing was recorded.
VerdictText = str | None


class HandlerFailed(Exception):
    """A handler's call that failed in its work horse, as the worker process knows it: the child's report,
    the attempt's outcome, and `after_verdict`, which lets the child run the handler's hook."""

    def __init__(self, report: ErrorReport, *, outcome: str, follow_up: Callable[[VerdictText], None] | None = None):
        super().__init__(report.message)
        self.report = report
        self.outcome = outcome
        self._follow_up = follow_up

    def after_verdict(self, verdict: VerdictText) -> None:
        if self._follow_up is not None:
            follow_up, self._follow_up = self._follow_up, None
            follow_up(verdict)


class WorkHorse:
    """Runs one handler call at a time in a forked child of `worker` (an RQ worker: its `_horse_pid` is what
    RQ's cold shutdown and stop-job command kill)."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self._child = 0  # a child not yet reaped
        self._verdict_fd = -1  # the pipe its verdict goes down, while it waits for one

    def call(
        self,
        work: Callable[[], Any],
        *,
        describe: Callable[[BaseException], ErrorReport],
        follow_up: Callable[[BaseException, VerdictText], None] | None = None,
    ) -> Any:
        """`work()`'s value (JSON) from a child process, or `HandlerFailed`; `describe` makes the report of
        what `work` raised and `follow_up(error, verdict)` runs in the child once the outcome is recorded."""
        self.reap()
        results, results_out = os.pipe()
        verdicts, verdicts_in = os.pipe() if follow_up is not None else (-1, -1)
        pid = os.fork()
        if pid == 0:
            os.close(results)
            if verdicts_in >= 0:
                os.close(verdicts_in)
            _be_the_horse(work, describe, follow_up, results_out, verdicts)  # never returns
        os.close(results_out)
        if verdicts >= 0:
            os.close(verdicts)
        self._child, self._verdict_fd = pid, verdicts_in
        self.worker._horse_pid = pid
        try:
            line = _read_line(results)
        except JobTimeoutException:  # RQ's limit in this process: the child ignored its own (SIGALRM)
            self._kill()
            error = WorkerDied(
                f"the work horse {pid} of {self.worker.name} was killed: it ran past its hard time limit"
            )
            raise HandlerFailed(describe(error), outcome=JobAttempt.Outcome.KILLED) from None
        finally:
            os.close(results)
        if line is None:
            how = self._reap_now()
            error = WorkerDied(f"the work horse {pid} of {self.worker.name} died ({how}) while running the handler")
            raise HandlerFailed(describe(error), outcome=JobAttempt.Outcome.KILLED)
        message = json.loads(line)
        if "result" in message:
            self._close_verdicts()
            self.worker._horse_pid = 0
            return message["result"]
        report = ErrorReport.from_dict(message["error"])
        outcome = JobAttempt.Outcome.TIMED_OUT if report.timed_out else JobAttempt.Outcome.FAILED
        if follow_up is None:
            self.worker._horse_pid = 0
            raise HandlerFailed(report, outcome=outcome)
        raise HandlerFailed(report, outcome=outcome, follow_up=self._send_verdict)

    def _send_verdict(self, verdict: VerdictText) -> None:
        """The recorded verdict to the waiting child, which runs the hook; the worker waits for it (within RQ's
        limit, which kills a hook that hangs)."""
        try:
            os.write(self._verdict_fd, json.dumps(verdict).encode() + b"\n")
        except OSError:
            pass  # the child is gone: nothing to run the hook
        self._close_verdicts()
        try:
            self._reap_now()
        except JobTimeoutException:
            logger.warning("The hook of the handler in work horse %s ran past the time limit: killed", self._child)
            self._kill()

    def reap(self) -> None:
        """Wait for the last child to exit: its result is in, only its exit (or its hook) is left."""
        self._close_verdicts()  # a child still waiting for a verdict gets none and exits
        if self._child:
            self._reap_now()

    def _reap_now(self) -> str:
        pid, self._child = self._child, 0
        self.worker._horse_pid = 0
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped already (RQ's cold shutdown waits for its horse)
            return "gone"
        if os.WIFSIGNALED(status):
            return f"signal {os.WTERMSIG(status)}, {signal.Signals(os.WTERMSIG(status)).name}"
        return f"exit status {os.WEXITSTATUS(status)}"

    def _kill(self) -> None:
        try:
            os.killpg(self._child, signal.SIGKILL)
        except ProcessLookupError:  # not yet in a group of its own
            try:
                os.kill(self._child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._close_verdicts()
        self._reap_now()

    def _close_verdicts(self) -> None:
        if self._verdict_fd >= 0:
            os.close(self._verdict_fd)
            self._verdict_fd = -1


def _be_the_horse(
    work: Callable[[], Any],
    describe: Callable[[BaseException], ErrorReport],
    follow_up: Callable[[BaseException, VerdictText], None] | None,
    results: int,
    verdicts: int,
) -> None:
    """The child: the call, its line of JSON, the hook after the verdict; then `os._exit`, whatever happens."""
    try:
        os.setpgrp()  # RQ's cold shutdown kills the group; a Ctrl+C in the terminal does not reach it
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        random.seed()
        _forget_inherited_connections()
        error: BaseException | None = None
        try:
            line = json.dumps({"result": work()})
        except BaseException as raised:  # SystemExit too: the attempt fails, the worker goes on
            error = raised
            line = json.dumps({"error": dataclasses.asdict(describe(raised))})
        _write_all(results, line.encode() + b"\n")
        os.close(results)
        if error is not None and follow_up is not None:
            verdict = _read_line(verdicts)
            if verdict is not None:
                follow_up(error, json.loads(verdict))
    except BaseException:
        logger.exception("The work horse %s failed", os.getpid())
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(0)


# The worker's database connections, kept referenced in the child and never closed: closing one (or letting it
# be collected) would end the worker's own session (psycopg sends its server a Terminate) or its SQLite locks.
_inherited: list[Any] = []


def _forget_inherited_connections() -> None:
    """Make Django open new connections in the child, should the handler use the database."""
    for wrapper in connections.all(initialized_only=True):
        _inherited.append(wrapper)
        del connections[wrapper.alias]


def _read_line(fd: int) -> bytes | None:
    """One line from `fd`, without its newline; None at the end of the stream before a whole line."""
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)[:-1]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
