"""factory-boy factories for jobs and attempts, with traits for the states operators look at."""

from datetime import timedelta

import factory
from django.utils import timezone

from jobs_app.models import FailureGroup, Job, JobAttempt
from jobs_app.policy import Backoff


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    handler = "test.add"
    queue = "default"
    args = factory.LazyFunction(lambda: [1, 2])
    kwargs = factory.LazyFunction(dict)
    state = Job.State.QUEUED
    max_attempts = 3
    backoff = factory.LazyFunction(lambda: Backoff.fixed(0).to_dict())

    class Params:
        failed = factory.Trait(
            state=Job.State.FAILED,
            attempts=3,
            failed_at=factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=10)),
            finished_at=factory.SelfAttribute("failed_at"),
            error_type="RuntimeError",
            error_message="boom",
        )
        dead = factory.Trait(
            state=Job.State.DEAD,
            attempts=1,
            failed_at=factory.LazyFunction(timezone.now),
            finished_at=factory.SelfAttribute("failed_at"),
            error_type="PermanentError",
            error_message="no such address",
        )
        succeeded = factory.Trait(
            state=Job.State.SUCCEEDED, attempts=1, result=3, finished_at=factory.LazyFunction(timezone.now)
        )


class JobAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobAttempt

    job = factory.SubFactory(JobFactory, failed=True)
    cycle = 1
    number = factory.Sequence(lambda n: n + 1)
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=1))
    finished_at = factory.LazyFunction(timezone.now)
    duration = factory.LazyAttribute(lambda attempt: attempt.finished_at - attempt.started_at)
    outcome = JobAttempt.Outcome.FAILED
    error_type = "RuntimeError"
    error_message = "boom"


class FailureGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FailureGroup

    fingerprint = factory.Sequence(lambda n: f"{n:016x}")
    handler = "test.add"
    error_type = "shop.errors.Upstream"
    message = "upstream returned <n>"
    first_seen = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=2))
    last_seen = factory.LazyFunction(timezone.now)
    occurrences = 3
