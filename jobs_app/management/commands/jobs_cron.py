"""`manage.py jobs_cron`: rq's cron loop for jobs_app's recurring handlers (see jobs_app.scheduler)."""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError

from jobs_app.management.options import TEXT
from jobs_app.scheduler import JobsAppCronScheduler


class Command(BaseCommand):
    help = (
        "Run the cron scheduler of recurring job handlers (schedule= / every=): each occurrence becomes one "
        "ordinary job. Several may run at once; an occurrence is still enqueued once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "config_path",
            nargs="?",
            type=TEXT,
            default="jobs_app.cron",
            help="The cron configuration module (default: jobs_app.cron, built from the handlers' schedules).",
        )
        parser.add_argument(
            "--logging-level", "-l", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], default="INFO"
        )

    def handle(self, *args, **options):
        scheduler = JobsAppCronScheduler(logging_level=getattr(logging, options["logging_level"]))
        try:
            scheduler.load_config_from_file(options["config_path"])
        except Exception as error:  # rq wraps whatever the import raised
            raise CommandError(f"Cannot load the cron configuration {options['config_path']!r}: {error}") from None
        self.stdout.write(f"Recurring: {len(scheduler.get_jobs())} cron entries from {options['config_path']}")
        scheduler.start()
