"""Signals jobs_app sends. Receivers get `sender=Job` and `job=<the Job row>`."""

from django.dispatch import Signal

# A job became `dead`: it gave up (PermanentError, give_up_on, an unknown handler) or
# the sweeper moved it to the dead letter.
job_dead = Signal()

# An attempt of a job was recorded: `job.state` is where the attempt left it (`succeeded`, `scheduled` for a
# retry, `failed`, `dead`). Sent once the record is committed, by whoever recorded it: the worker, the pool for
# a process it lost, the sweeper's repair for a killed worker's attempt.
attempt_recorded = Signal()
