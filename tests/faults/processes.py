"""Real subprocesses for the faults suite: started in sessions of their own, always killed at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from contextlib import suppress
from pathlib import Path


def sweep_once(processes: Processes) -> dict:
    """One pass of the real sweeper, `manage.py retry_failed --once --json`; its counts."""
    name = f"sweeper-{len(processes.started)}"
    processes.manage(name, "retry_failed", "--once", "--json")
    assert processes.wait(name, timeout=60) == 0, processes.log(name)
    return json.loads([line for line in processes.log(name).splitlines() if line.startswith("{")][-1])


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (work horses live in sessions of their own, so killpg misses them)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


class Processes:
    """The subprocesses one test started. `stop_all()` kills whatever is left, horses included."""

    def __init__(self, log_dir: Path, env: dict[str, str], manage_py: list[str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.manage_py = manage_py
        self.started: dict[str, subprocess.Popen] = {}
        self.strays: list[int] = []  # pids to kill at the end too (a horse whose worker was killed)

    def manage(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """`manage.py <args>` in a session of its own, its output in `<log_dir>/<name>.log`."""
        with open(self.log_dir / f"{name}.log", "ab") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                [*self.manage_py, *args],
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started[name] = process
        return process

    def worker(
        self,
        name: str,
        *queues: str,
        burst: bool = False,
        worker_class: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen:
        """A real `manage.py rqworker` (jobs_app's forking worker, unless `worker_class`) named `name`,
        with the scheduler."""
        args = ["rqworker", *(queues or ("default",)), "--with-scheduler", "--name", name]
        args += [*(["--burst"] if burst else []), *(["--worker-class", worker_class] if worker_class else [])]
        return self.manage(name, *args, env=env)

    def pool(self, name: str, *args: str, queues: tuple[str, ...] = ("default",)) -> subprocess.Popen:
        """A real `manage.py jobs_worker` (the production pool) on `queues`, with `args` (`--num-workers 2`)."""
        return self.manage(name, "jobs_worker", *queues, *args)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def wait(self, name: str, timeout: float = 60) -> int:
        return self.started[name].wait(timeout=timeout)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the process (SIGKILL: to it and its whole session, as the OOM killer would)."""
        process = self.started[name]
        if sig == signal.SIGKILL:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)

    def kill_pid(self, pid: int, sig: int = signal.SIGKILL) -> None:
        """Signal one process by pid (a work horse); it is also killed at the end if still there."""
        self.strays.append(pid)
        os.kill(pid, sig)

    def stop_all(self) -> None:
        for pid in self.strays:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self.started.values():
            if process.poll() is None:
                for pid in descendants(process.pid):
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a zombie the kernel has yet to reap
                pass
