"""Settings for the faults suite's subprocesses: the test settings, with the repair's grace period
from the environment, so that a `retry_failed` subprocess acts on jobs seconds old, not minutes."""

import os

from tests.settings import *  # noqa: F403

JOBS_APP = {"REPAIR_GRACE": int(os.environ.get("FAULTS_REPAIR_GRACE", "60"))}
