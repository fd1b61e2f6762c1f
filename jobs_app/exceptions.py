"""The exceptions jobs_app raises, and the two that handlers raise to steer retries."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class JobsAppError(Exception):
    """Base class of every jobs_app exception."""


class PermanentError(JobsAppError):
    """Raise from a handler when retrying cannot help: the job goes `dead` at once."""


class TransientError(JobsAppError):
    """Raise from a handler to ask for a retry, even where `give_up_on` would match."""


class HandlerNotFound(JobsAppError, LookupError):
    """No handler is registered under a job's name."""


class JobTimeout(JobsAppError):
    """A handler ran past its timeout; the attempt fails and the retry policy applies."""


class WorkerDied(JobsAppError):
    """The worker running an attempt died (killed, out of memory, host lost) before recording it.

    The sweeper's repair records such an attempt as `killed` and applies the retry policy.
    """


class ForbiddenJobFunction(JobsAppError):
    """An RQ job names a callable that workers must not import (only jobs_app's entry point is allowed)."""


class NothingToPause(JobsAppError, LookupError):
    """`pause`/`resume` named a queue not in RQ_QUEUES or a handler that is not registered."""


class UnknownQueue(ImproperlyConfigured, ValueError):
    """A job names a queue that is not in `settings.RQ_QUEUES`: add it there, or use one that is.

    Also a `ValueError`, which is what it was before it had a name.
    """
