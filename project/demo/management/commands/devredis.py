import os
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand

from jobs_app.testing import RedisServer, is_listening


class Command(BaseCommand):
    help = "For make run: start a redis-server on REDIS_URL (data under var/redis) unless one already listens there."

    def handle(self, *args, **options):
        url = urlparse(settings.REDIS_URL)
        host, port = url.hostname or "127.0.0.1", url.port or 6379
        if is_listening(host, port):
            self.stdout.write(f"Redis already listens on {host}:{port}; using it.")
            self.stdout.flush()
            # Stay up, so that the process runner does not stop the others.
            os.execvp("sleep", ["sleep", "infinity"])
        server = RedisServer(port=port, data_dir=settings.VAR_DIR / "redis")
        command = server.command(persistent=True)
        self.stdout.write(f"Starting {command[0]} on {host}:{port}")
        self.stdout.flush()
        # Replace this process, so that Ctrl-C and SIGTERM reach redis-server itself.
        os.execv(command[0], command)
