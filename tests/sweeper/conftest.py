from datetime import timedelta

import pytest
from django.utils import timezone

from jobs_app.signals import job_dead


@pytest.fixture
def dead_signals():
    """The jobs `job_dead` was sent for, in order."""
    received = []

    def receiver(sender, job, **kwargs):
        received.append(job)

    job_dead.connect(receiver)
    yield received
    job_dead.disconnect(receiver)


@pytest.fixture
def ago():
    """`ago(seconds=...)`: a time in the past, for failed_at / started_at / scheduled_for."""
    return lambda **delta: timezone.now() - timedelta(**delta)
