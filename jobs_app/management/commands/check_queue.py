"""`manage.py check_queue`: jobs and live workers per queue, and recurring jobs; exit 1 on a problem."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from jobs_app import health, recurring, stats


class Command(BaseCommand):
    help = (
        "Show waiting, scheduled, running, succeeded, failed and dead jobs and the workers alive for each queue, "
        "and each recurring job's last success. Exits 1 when a queue has waiting jobs and no worker alive, or a "
        "recurring job has not succeeded within its max_interval (usable as a probe). Lists paused queues and handlers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")

    def handle(self, *args, **options):
        counts, workers = stats.state_counts(), stats.workers_by_queue()
        overview = stats.queue_overview(counts, workers)
        stranded = stats.queues_without_workers(counts, workers)
        schedules = recurring.statuses()
        stale = [status for status in schedules if status.stale]
        paused = health.paused()
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "queues": overview,
                        "queues_without_workers": stranded,
                        "stale_recurring": [status.handler for status in stale],
                        "paused": paused,
                    }
                )
            )
        else:
            self.stdout.write(self.table(("queue", *stats.OVERVIEW_COLUMNS), overview.items()))
            if schedules:
                self.stdout.write("")
                self.stdout.write(self.recurring_table(schedules))
            if paused:
                self.stdout.write("")
                rows = [
                    (f"{item['kind']} {item['name']}", {"since": item["since"], "by": item["by"]}) for item in paused
                ]
                self.stdout.write(self.table(("paused", "since", "by"), rows, align_right=False))
        problems = []
        if stranded:
            problems.append(
                f"No worker alive for queue(s) with waiting jobs: {', '.join(stranded)}. "
                f"Start one: manage.py rqworker {' '.join(stranded)}"
            )
        problems.extend(status.reason for status in stale)
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
