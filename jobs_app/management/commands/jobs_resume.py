"""`manage.py jobs_resume queue|handler NAME`: its held jobs run again (within PAUSE_RECHECK seconds)."""

from __future__ import annotations

from .jobs_pause import Command as PauseCommand


class Command(PauseCommand):
    help = "Resume a paused queue or handler: its held jobs run again within JOBS_APP['PAUSE_RECHECK'] seconds."
    pausing = False
