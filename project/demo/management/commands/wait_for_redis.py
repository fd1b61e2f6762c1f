import time

from django.core.management.base import BaseCommand, CommandError
from django_rq import get_connection
from redis import RedisError


class Command(BaseCommand):
    help = "Wait until Redis answers on REDIS_URL (for make run, where Redis starts beside the worker)."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=60)

    def handle(self, *args, **options):
        deadline = time.monotonic() + options["timeout"]
        connection = get_connection("default")
        while True:
            try:
                connection.ping()
                return
            except RedisError as error:
                if time.monotonic() > deadline:
                    raise CommandError(f"Redis did not answer within {options['timeout']:.0f}s: {error}") from None
                time.sleep(0.2)
