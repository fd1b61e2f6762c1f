"""Settings for the faults suite's subprocesses: the test settings, with the repair's grace period
from the environment, so that a `retry_failed` subprocess acts on jobs seconds old, not minutes."""

import os

from tests.settings import *  # noqa: F403

JOBS_APP = {
    "REPAIR_GRACE": int(os.environ.get("FAULTS_REPAIR_GRACE", "60")),
    # The pool's hard time limit is a job's timeout plus this: short, so a stuck job is killed in seconds.
    "TIMEOUT_MARGIN": int(os.environ.get("FAULTS_TIMEOUT_MARGIN", "30")),
}
