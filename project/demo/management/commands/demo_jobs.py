import random
import signal
import threading

from django.core.management.base import BaseCommand

from project.demo import handlers


class Command(BaseCommand):
    help = "For make run: enqueue a handful of demo jobs now, and a few more every --interval seconds."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=60)

    def handle(self, *args, **options):
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.is_set():
            self.enqueue_batch()
            stop.wait(options["interval"])

    def enqueue_batch(self):
        batch = [
            *(handlers.square.enqueue(random.randint(1, 99)) for _ in range(5)),
            *(handlers.flaky_sync.enqueue(random.randint(1000, 9999)) for _ in range(3)),
            handlers.broken_report.enqueue("monthly-revenue"),
            handlers.send_welcome.enqueue("ada@example.com"),
            handlers.send_welcome.enqueue("not-an-address"),
            handlers.import_rows.enqueue(40),
        ]
        self.stdout.write(f"Enqueued {len(batch)} demo jobs")
        self.stdout.flush()
