"""Retake the admin screenshots of docs/admin.md: demo data, a real Redis, a worker, runserver, and Debian's Chromium.

    .venv/bin/python docs/screenshots/take.py

Uses its own database under var/ (never var/db.sqlite3) and a throwaway redis-server.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

BASE = Path(__file__).resolve().parents[2]
OUT = BASE / "docs" / "screenshots"
DB = BASE / "var" / "screenshots.sqlite3"
sys.path.insert(0, str(BASE))


def seed() -> None:
    from django.utils import timezone

    from jobs_app.models import Job, JobAttempt
    from jobs_app.services import dispatch_of
    from jobs_app.transport import push

    random.seed(4)
    now = timezone.now()
    failures = [
        ("demo.broken_report", "cleanup", "RuntimeError", "report 'monthly-revenue': the reporting database refused"),
        ("demo.flaky_sync", "default", "TransientError", "upstream timed out while syncing account 4711"),
        ("demo.send_welcome", "email", "PermanentError", "'not-an-address' is not an email address"),
        ("billing.charge_card", "default", "CardDeclined", "card ending 4242 was declined (insufficient funds)"),
    ]
    jobs, attempts = [], []
    for index in range(60):
        handler, queue, error_type, message = failures[index % len(failures)]
        dead = error_type in ("PermanentError", "CardDeclined")
        failed_at = now - timedelta(minutes=7 * index + random.randint(0, 6))
        job = Job(
            id=uuid.uuid4(),
            handler=handler,
            queue=queue,
            args=[index],
            state=Job.State.DEAD if dead else Job.State.FAILED,
            attempts=1 if dead else 3,
            max_attempts=3 if not dead else 5,
            auto_retries=index % 3 if not dead else 0,
            created_at=failed_at - timedelta(seconds=40),
            finished_at=failed_at,
            failed_at=failed_at,
            error_type=error_type,
            error_message=message,
            traceback=f"Traceback (most recent call last):\n  ...\n{error_type}: {message}",
        )
        jobs.append(job)
    for state, count in [("succeeded", 180), ("queued", 7), ("scheduled", 4), ("running", 2), ("cancelled", 3)]:
        for index in range(count):
            queue = random.choice(["default", "email", "notification", "cleanup"])
            if state == "queued":
                queue = "notification"
            jobs.append(
                Job(
                    id=uuid.uuid4(),
                    handler="demo.square" if queue == "default" else f"demo.{queue}_task",
                    queue=queue,
                    args=[index],
                    state=state,
                    attempts=1 if state in ("succeeded", "running") else 0,
                    created_at=now - timedelta(minutes=random.randint(1, 1400)),
                    result={"ok": True} if state == "succeeded" else None,
                )
            )
    Job.objects.bulk_create(jobs)
    for hour in range(24):
        for _ in range(random.randint(20, 60) + (30 if 8 <= hour <= 14 else 0)):
            finished = now - timedelta(hours=hour, minutes=random.randint(0, 59))
            failed = random.random() < (0.35 if hour in (3, 4, 11) else 0.08)
            attempts.append(
                JobAttempt(
                    job=random.choice(jobs),
                    cycle=1,
                    number=1,
                    started_at=finished - timedelta(seconds=1),
                    finished_at=finished,
                    duration=timedelta(seconds=1),
                    outcome="failed" if failed else "succeeded",
                )
            )
    JobAttempt.objects.bulk_create(attempts)
    push([dispatch_of(job) for job in jobs if job.state == "queued"])


def main() -> None:
    from jobs_app.testing import RedisServer, free_port

    DB.unlink(missing_ok=True)
    with RedisServer() as redis:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{DB}", "REDIS_URL": redis.url, "DEBUG": "1"}
        os.environ.update(env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
        manage = [sys.executable, str(BASE / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        subprocess.run([*manage, "demo_superuser"], env=env, check=True, stdout=subprocess.DEVNULL)
        import django

        django.setup()
        seed()
        port = free_port()
        server = subprocess.Popen([*manage, "runserver", f"127.0.0.1:{port}", "--noreload"], env=env)
        # A worker for the queues that have nothing waiting, so that the dashboard shows one alive.
        worker = subprocess.Popen([*manage, "rqworker", "default", "email", "cleanup"], env=env)
        try:
            time.sleep(4)
            shoot(f"http://127.0.0.1:{port}")
        finally:
            for process in (worker, server):
                process.terminate()
                process.wait(10)


def shoot(url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        page.goto(f"{url}/admin/login/?next=/admin/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "admin")
        page.click("input[type=submit]")
        page.wait_for_selector("#site-name")
        page.evaluate("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
        page.goto(f"{url}/admin/jobs_app/failedjob/")
        page.screenshot(path=str(OUT / "failed-jobs.png"), clip={"x": 0, "y": 0, "width": 1500, "height": 900})
        page.goto(f"{url}/admin/jobs_app/job/dashboard/")
        page.screenshot(path=str(OUT / "dashboard.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
