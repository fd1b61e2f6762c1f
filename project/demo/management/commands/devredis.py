import signal
import threading
import time
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jobs_app.testing import RedisServer, is_listening

# On Ctrl-C, Redis stops last: the worker and the web server get this long to let go of it.
STOP_GRACE_SECONDS = 3


class Command(BaseCommand):
    help = "For make run: run a redis-server on REDIS_URL (data under var/redis) unless one already listens there."

    def handle(self, *args, **options):
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        url = urlparse(settings.REDIS_URL)
        host, port = url.hostname or "127.0.0.1", url.port or 6379
        if is_listening(host, port):
            self.stdout.write(f"Redis already listens on {host}:{port}; using it.")
            self.stdout.flush()
            stop.wait()  # stay up, so that the process runner does not stop the others
            return
        server = RedisServer(port=port, data_dir=settings.VAR_DIR / "redis").start()
        self.stdout.write(f"Redis {server.command()[0]} listens on {host}:{port}, data in var/redis")
        self.stdout.flush()
        try:
            while not stop.wait(1):
                if server.process.poll() is not None:
                    raise CommandError(f"redis-server exited with status {server.process.returncode}")
            time.sleep(STOP_GRACE_SECONDS)
        finally:
            server.stop()
