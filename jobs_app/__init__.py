"""jobs_app: durable, retryable background jobs on RQ.

from jobs_app import job_handler, Backoff

@job_handler("email.send", queue="email", attempts=5, backoff=Backoff.exponential(delay=2))
def send_email(to, subject, body): ...

send_email.enqueue("a@example.com", "Hi", "Welcome")
"""

from .exceptions import HandlerNotFound, JobsAppError, JobTimeout, PermanentError, TransientError
from .policy import AutoRetry, Backoff
from .registry import Call, Handler, get_handler, job_handler
from .retries import retry_policy

__version__ = "0.1.0"

__all__ = [
    "AutoRetry",
    "Backoff",
    "Call",
    "Handler",
    "HandlerNotFound",
    "JobTimeout",
    "JobsAppError",
    "PermanentError",
    "TransientError",
    "get_handler",
    "job_handler",
    "retry_policy",
]
