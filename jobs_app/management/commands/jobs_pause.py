"""`manage.py jobs_pause queue|handler NAME`: its jobs wait, on every worker, until `jobs_resume`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from redis import RedisError

from jobs_app import pauses
from jobs_app.exceptions import NothingToPause
from jobs_app.management.options import TEXT
from jobs_app.registry import all_handlers


class Command(BaseCommand):
    help = (
        "Pause a queue or a handler on every worker: its jobs wait, unrun and without spending attempts, "
        "until `manage.py jobs_resume`."
    )
    pausing = True

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=pauses.KINDS, help="What to name: a queue or a handler.")
        parser.add_argument("name", type=TEXT, help="The queue (in RQ_QUEUES) or handler name.")

    def handle(self, *args, kind: str, name: str, **options):
        change = pauses.pause if self.pausing else pauses.resume
        try:
            changed = change(kind, name, handlers=all_handlers(), by="manage.py")
        except NothingToPause as error:
            raise CommandError(str(error)) from None
        except RedisError as error:
            raise CommandError(f"Redis cannot be reached ({error}); nothing changed") from None
        done = "paused" if self.pausing else "resumed"
        if changed:
            self.stdout.write(self.style.SUCCESS(f"{kind.capitalize()} {name!r} {done}."))
        else:
            self.stdout.write(f"{kind.capitalize()} {name!r} was already {done if self.pausing else 'running'}.")
