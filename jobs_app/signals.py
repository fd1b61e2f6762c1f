"""Signals jobs_app sends. Receivers get `sender=Job` and `job=<the Job row>`."""

from django.dispatch import Signal

# A job became `dead`: it gave up (PermanentError, give_up_on, an unknown handler) or
# the sweeper moved it to the dead letter.
job_dead = Signal()
