"""Settings for the faults suite's subprocesses: the test settings, with the repair's grace period
from the environment, so that a `retry_failed` subprocess acts on jobs seconds old, not minutes."""

import faulthandler
import os
import signal

from tests.settings import *  # noqa: F403

JOBS_APP = {"REPAIR_GRACE": int(os.environ.get("FAULTS_REPAIR_GRACE", "60"))}

# tests/faults/test_sentinel.py: every queue through the Redis Sentinels named in FAULTS_SENTINELS
# ("host:port,host:port,..."), django-rq's SENTINELS form, as the test process itself uses them.
if os.environ.get("FAULTS_SENTINELS"):
    _sentinels = [
        (host, int(port)) for host, port in (a.rsplit(":", 1) for a in os.environ["FAULTS_SENTINELS"].split(","))
    ]
    RQ_QUEUES = {
        name: {**{key: value for key, value in config.items() if key != "URL"}, "SENTINELS": _sentinels,
               "MASTER_NAME": os.environ.get("FAULTS_SENTINEL_MASTER", "jobs"), "DB": 0}
        for name, config in RQ_QUEUES.items()  # noqa: F405
    }  # fmt: skip

# A stuck subprocess can be asked where it is: `kill -USR2 <pid>` prints every thread's stack to its log.
faulthandler.register(signal.SIGUSR2, all_threads=True)
