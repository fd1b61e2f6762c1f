"""`manage.py purge_jobs`: delete finished jobs past their retention. Run it daily."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from jobs_app import retention
from jobs_app.management.options import AGE


class Command(BaseCommand):
    help = (
        "Delete succeeded, dead and cancelled jobs, with their attempts, that finished longer ago than "
        'JOBS_APP["RETENTION"] (7 days succeeded, 30 days dead and cancelled) or --older-than.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=AGE, help="One age for all three states: 14d, 12h, 30m, 45s.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        parser.add_argument("--json", action="store_true", help="Print the counts as JSON.")

    def handle(self, *args, **options):
        counts = retention.purge(older_than=options["older_than"], dry_run=options["dry_run"])
        if options["json"]:
            self.stdout.write(json.dumps({"dry_run": options["dry_run"], "deleted": counts}))
            return
        verb = "Would delete" if options["dry_run"] else "Deleted"
        detail = ", ".join(f"{count} {state}" for state, count in counts.items())
        self.stdout.write(f"{verb} {sum(counts.values())} finished job(s): {detail}")
