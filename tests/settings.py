"""The project's settings plus a test app whose handlers.py the tests enqueue."""

from importlib.util import find_spec

from jobs_app import Backoff
from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS, JOBS_APP

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
if find_spec("django.tasks") is None:  # Django 5.2: the backport's app registers its checks and signal receivers
    INSTALLED_APPS.append("django_tasks")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# tests/breaker/: a breaker that opens after 2 failures and closes after 2 successes, also in
# the worker subprocesses those tests start.
JOBS_APP = {
    **JOBS_APP,
    "BREAKERS": {"test-whatsapp": {"failure_threshold": 2, "recovery_timeout": 60, "success_threshold": 2}},
}

# tests/tasks/: jobs_app as the django.tasks backend, for tests.testapp.tasks (workers import it as tasks.py).
TASKS = {
    "default": {
        "BACKEND": "jobs_app.backends.JobsAppBackend",
        "QUEUES": ["default", "email"],
        "OPTIONS": {
            "attempts": 2,
            "backoff": Backoff.fixed(0),
            "tasks": {"tests.testapp.tasks.configured_by_path": {"attempts": 4, "give_up_on": [KeyError]}},
        },
    },
}
