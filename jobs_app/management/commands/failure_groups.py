"""`manage.py failure_groups`: the failure groups as a table or JSON; `--backfill` fingerprints older failures."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from jobs_app import groups
from jobs_app.api.groups import group_summary
from jobs_app.management.options import POSITIVE_COUNT, TEXT
from jobs_app.models import FailureGroup


class Command(BaseCommand):
    help = (
        "List failure groups (one line per cause), last seen first. --backfill first fingerprints failed and "
        "dead jobs recorded before failure groups existed (run it once after upgrading)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--status", choices=FailureGroup.Status.values, help="Only groups in this status.")
        parser.add_argument("--handler", type=TEXT, help="Only groups of this handler.")
        parser.add_argument("--limit", type=POSITIVE_COUNT, default=50, help="At most this many groups (50).")
        parser.add_argument("--json", action="store_true", help="Print a JSON array instead of a table.")
        parser.add_argument("--backfill", action="store_true", help="Fingerprint older failed and dead jobs first.")

    def handle(self, *args, **options):
        if options["backfill"]:
            done = groups.backfill()
            self.stderr.write(f"Fingerprinted {done} failed or dead job(s) recorded before failure groups.")
        found = FailureGroup.objects.order_by("-last_seen", "pk")
        if options["status"]:
            found = found.filter(status=options["status"])
        if options["handler"]:
            found = found.filter(handler=options["handler"])
        page = list(found[: options["limit"]])
        counts = groups.job_counts(group.pk for group in page)
        rows = [group_summary(group, counts[group.pk]) for group in page]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No failure groups.")
            return
        self.stdout.write(
            f"{'fingerprint':<16}  {'status':<8}  {'jobs':>6}  {'attempts':>8}  {'last seen':<19}  handler: cause"
        )
        for row in rows:
            status = row["status"] + ("!" if row["regressed"] else "")
            cause = f"{row['error_type']}: {row['message']}"
            self.stdout.write(
                f"{row['fingerprint']:<16}  {status:<8}  {row['jobs']:>6}  {row['occurrences']:>8}  "
                f"{row['last_seen'][:19]:<19}  {row['handler']}: {cause[:100]}"
            )
