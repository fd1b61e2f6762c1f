"""The project's settings plus a test app whose handlers.py the tests enqueue."""

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS, JOBS_APP

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# tests/breaker/: a breaker that opens after 2 failures and closes after 2 successes, also in
# the worker subprocesses those tests start.
JOBS_APP = {
    **JOBS_APP,
    "BREAKERS": {"test-whatsapp": {"failure_threshold": 2, "recovery_timeout": 60, "success_threshold": 2}},
}
