"""Signals jobs_app sends. Receivers get `sender=Job` and `job=<the Job row>`."""

from django.dispatch import Signal

# A job became `dead`: it gave up (PermanentError, give_up_on, an unknown handler) or
# the sweeper moved it to the dead letter.
job_dead = Signal()

# A worker ran an attempt of a job and recorded its outcome: `job.state` is where the attempt left it
# (`succeeded`, `scheduled` for a retry, `failed`, `dead`). Sent in the worker, after the record.
attempt_recorded = Signal()
