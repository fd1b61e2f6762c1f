"""`manage.py retry_failed`: the sweeper. See docs/sweeper.md."""

from __future__ import annotations

import json
import signal
import sys
import threading

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from jobs_app import group_actions, stats, sweeper
from jobs_app.management.options import COUNT, POSITIVE_COUNT, RATE, SECONDS, TEXT
from jobs_app.models import FailureGroup
from jobs_app.registry import all_handlers


class Command(BaseCommand):
    help = (
        "Re-run failed jobs after a delay, move jobs whose auto-retries are used up to dead, and repair "
        "jobs lost from Redis or by dead workers. Runs every --interval seconds until SIGTERM/SIGINT, or --once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one pass and exit (for cron).")
        parser.add_argument("--interval", type=SECONDS, default=60, help="Seconds between passes (60).")
        parser.add_argument("--delay", type=SECONDS, help="Seconds after failing before a re-run.")
        parser.add_argument("--max-retries", type=COUNT, help="Re-runs before a failed job goes dead.")
        parser.add_argument("--queue", action="append", type=TEXT, default=[], help="Only this queue (repeatable).")
        parser.add_argument("--handler", type=TEXT, help="Only jobs of this handler.")
        parser.add_argument(
            "--limit", type=POSITIVE_COUNT, help="Re-run or move to dead at most this many jobs per pass."
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would be done; change nothing.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object per pass.")
        parser.add_argument(
            "--group",
            type=TEXT,
            metavar="FINGERPRINT",
            help="Instead of a pass: re-run this failure group's jobs, and exit.",
        )
        parser.add_argument(
            "--rate", type=RATE, help="With --group: jobs a second (default JOBS_APP['GROUP_RETRY_RATE'])."
        )

    def handle(self, *args, **options):
        if options["group"] or options["rate"] is not None:
            return self.retry_group(options)
        configured = stats.logical_queues()
        unknown = [queue for queue in options["queue"] if queue not in configured]
        if unknown:
            raise CommandError(
                f"Unknown queue(s): {', '.join(unknown)}. The queues in settings.RQ_QUEUES: {', '.join(configured)}"
            )
        if options["handler"] and options["handler"] not in all_handlers():
            # Not an error: jobs of a handler since renamed or removed may still be waiting for the sweeper.
            self.stderr.write(
                self.style.WARNING(
                    f"No handler is registered as {options['handler']!r}; sweeping the jobs that carry that name."
                )
            )
        sweep_options = sweeper.SweepOptions(
            delay=options["delay"],
            max_retries=options["max_retries"],
            queues=tuple(options["queue"]),
            handler=options["handler"],
            limit=options["limit"],
            dry_run=options["dry_run"],
        )
        stop = threading.Event()
        # SIGTERM / SIGINT: finish the batch in hand, then exit 0.
        previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            while True:
                self.run_pass(sweep_options, options, stop)
                if options["once"] or stop.wait(options["interval"]):
                    return
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def retry_group(self, options: dict) -> None:
        if not options["group"]:
            raise CommandError("--rate needs --group FINGERPRINT")
        if not FailureGroup.objects.filter(pk=options["group"]).exists():
            raise CommandError(f"No failure group {options['group']!r} (see manage.py failure_groups)")
        try:
            rate = group_actions.retry_rate(options["rate"])
        except ValueError as error:
            raise CommandError(f"--rate: {error}") from None
        result = group_actions.retry([options["group"]], rate=rate)
        last = result.last_run_at.isoformat() if result.last_run_at else None
        if options["json"]:
            self.stdout.write(json.dumps({"retried": result.retried, "rate": result.rate, "last_run_at": last}))
        elif result.retried:
            self.stdout.write(
                f"Scheduled {result.retried} job(s) of group {options['group']} at {result.rate:g} a second; "
                f"the last runs at {last}"
            )
        else:
            self.stdout.write(f"Nothing to retry: group {options['group']} has no failed or dead jobs")

    def run_pass(self, sweep_options: sweeper.SweepOptions, options: dict, stop: threading.Event) -> None:
        show_bar = not options["json"] and sys.stderr.isatty()
        bar = None
        if show_bar:
            total = sweeper.failed_jobs(sweep_options).count()
            # `delay`: only passes that last a while show a bar.
            bar = tqdm(total=total, unit="job", desc="Sweeping", delay=2, leave=False, file=sys.stderr)
        try:
            result = sweeper.sweep(sweep_options, progress=bar.update if bar else None, should_stop=stop.is_set)
        finally:
            if bar is not None:
                bar.close()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
        else:
            self.stdout.write(result.summary())
