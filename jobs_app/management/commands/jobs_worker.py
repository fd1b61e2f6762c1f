"""`manage.py jobs_worker`: the production worker pool (jobs_app.pool), see docs/workers.md."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jobs_app import transport
from jobs_app.management.options import POSITIVE_COUNT, TEXT, Number
from jobs_app.pool import WorkerPool

MEGABYTES = Number(minimum=1, maximum=2**20)  # up to a terabyte


class Command(BaseCommand):
    help = (
        "Run jobs with a pool of long-lived worker processes (no fork per job): a hard time limit per "
        "attempt, processes recycled after --max-jobs or --max-memory, a warm stop on SIGTERM/SIGINT."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "queues", nargs="*", type=TEXT, help="Logical queues to work on (default: every RQ_QUEUES entry)."
        )
        parser.add_argument(
            "--num-workers", type=POSITIVE_COUNT, default=os.cpu_count() or 1, help="Processes (default: CPUs)."
        )
        parser.add_argument("--burst", action="store_true", help="Exit once the queues are empty.")
        parser.add_argument("--max-jobs", type=POSITIVE_COUNT, help="Replace a process after this many jobs.")
        parser.add_argument(
            "--max-memory", type=MEGABYTES, metavar="MB", help="Replace a process once its RSS passes this."
        )

    def handle(self, *args, **options):
        queues = options["queues"] or list(getattr(settings, "RQ_QUEUES", {}))
        try:
            redis = {id(transport.connection(queue)): transport.connection(queue) for queue in queues}
        except ValueError as error:
            raise CommandError(str(error)) from None
        if len(redis) != 1:
            raise CommandError("The queues of one pool must share one Redis connection: start a pool per Redis.")
        verbosity = options["verbosity"]
        pool = WorkerPool(
            queues,
            connection=next(iter(redis.values())),
            num_workers=options["num_workers"],
            max_jobs=options["max_jobs"],
            max_memory_mb=options["max_memory"],
        )
        pool.start(
            burst=options["burst"], logging_level="DEBUG" if verbosity >= 2 else "WARNING" if verbosity == 0 else "INFO"
        )
        self.stdout.write(f"Pool {pool.name} stopped: {pool.killed} process(es) killed, {pool.replaced} replaced")
