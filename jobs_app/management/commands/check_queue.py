"""`manage.py check_queue`: jobs and live workers per queue; exit 1 when waiting jobs have no worker."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from jobs_app import stats


class Command(BaseCommand):
    help = (
        "Show waiting, scheduled, running, succeeded, failed and dead jobs and the workers alive for each queue. "
        "Exits 1 when a queue has waiting jobs and no worker alive (usable as a probe)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")

    def handle(self, *args, **options):
        counts, workers = stats.state_counts(), stats.workers_by_queue()
        overview = stats.queue_overview(counts, workers)
        stranded = stats.queues_without_workers(counts, workers)
        if options["json"]:
            self.stdout.write(json.dumps({"queues": overview, "queues_without_workers": stranded}))
        else:
            self.stdout.write(self.table(overview))
        if stranded:
            raise CommandError(
                f"No worker alive for queue(s) with waiting jobs: {', '.join(stranded)}. "
                f"Start one: manage.py rqworker {' '.join(stranded)}",
                returncode=1,
            )

    @staticmethod
    def table(overview: dict[str, dict[str, int]]) -> str:
        header = ("queue", *stats.OVERVIEW_COLUMNS)
        rows = [header, *((queue, *map(str, row.values())) for queue, row in overview.items())]
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        return "\n".join(
            "  ".join(
                cell.ljust(width) if column == 0 else cell.rjust(width)
                for column, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        )
