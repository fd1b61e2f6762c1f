"""`manage.py check_queue`: jobs and live workers per queue, and recurring jobs; exit 1 on a problem."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from redis import RedisError

from jobs_app import health, recurring, stats


class Command(BaseCommand):
    help = (
        "Show waiting, scheduled, running, succeeded, failed and dead jobs and the workers alive for each queue, "
        "and each recurring job's last success. Exits 1 when Redis cannot be reached, a queue has waiting jobs and "
        "no worker alive, or a recurring job has not succeeded within its max_interval (usable as a probe). "
        "Lists paused queues and handlers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")

    def handle(self, *args, **options):
        counts = stats.state_counts()
        problems = []
        try:
            workers = stats.workers_by_queue()
        except RedisError as error:
            # The finding, not a traceback: the jobs are still counted from the database.
            workers = None
            problems.append(f"Redis unreachable: {error}. Workers cannot be counted, nor jobs pushed or run.")
        overview: dict[str, dict[str, int | None]] = {
            queue: {**row, "workers": row["workers"] if workers is not None else None}  # None: unknown, not zero
            for queue, row in stats.queue_overview(counts, workers or {}).items()
        }
        stranded = stats.queues_without_workers(counts, workers) if workers is not None else []
        schedules = recurring.statuses()
        stale = [status for status in schedules if status.stale]
        paused = health.paused()
        if stranded:
            problems.append(
                f"No worker alive for queue(s) with waiting jobs: {', '.join(stranded)}. "
                f"Start one: manage.py rqworker {' '.join(stranded)}"
            )
        problems.extend(status.reason for status in stale)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "queues": overview,
                        "queues_without_workers": stranded,
                        "stale_recurring": [status.handler for status in stale],
                        "paused": paused,
                        "redis_reachable": workers is not None,
                        "problems": problems,
                    }
                )
            )
        else:
            rows = (
                (name, {**row, "workers": "?" if row["workers"] is None else row["workers"]})
                for name, row in overview.items()
            )
            self.stdout.write(self.table(("queue", *stats.OVERVIEW_COLUMNS), rows))
            if schedules:
                self.stdout.write("")
                self.stdout.write(self.recurring_table(schedules))
            if paused:
                self.stdout.write("")
                paused_rows = [
                    (f"{item['kind']} {item['name']}", {"since": item["since"], "by": item["by"]}) for item in paused
                ]
                self.stdout.write(self.table(("paused", "since", "by"), paused_rows, align_right=False))
            if workers is None:
                self.stdout.write("")
                self.stdout.write(problems[0])
        if problems:
            raise CommandError("; ".join(problems), returncode=1)

    @classmethod
    def recurring_table(cls, schedules: list[recurring.RecurringStatus]) -> str:
        def when(value):
            return value.isoformat(timespec="seconds") if value else "never"

        rows = [
            (
                status.handler,
                {
                    "schedule": status.schedule,
                    "last success": when(status.last_success),
                    "last outcome": status.last_outcome or "-",
                    "next run": when(status.next_run),
                    "health": "STALE" if status.stale else "ok",
                },
            )
            for status in schedules
        ]
        header = ("recurring", "schedule", "last success", "last outcome", "next run", "health")
        return cls.table(header, rows, align_right=False)

    @staticmethod
    def table(header, items, *, align_right: bool = True) -> str:
        rows = [header, *((name, *map(str, row.values())) for name, row in items)]
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        return "\n".join(
            "  ".join(
                cell.ljust(width) if column == 0 or not align_right else cell.rjust(width)
                for column, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        )
