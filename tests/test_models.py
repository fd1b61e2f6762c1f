"""The Job queryset's own helpers."""

import pytest

from jobs_app.models import Job
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_with_pks_matches_exactly_the_keys_given_in_any_order_and_not_those_between():
    jobs = sorted(JobFactory.create_batch(5), key=lambda job: job.pk)
    chosen = [jobs[3].pk, jobs[0].pk, jobs[4].pk]

    assert set(Job.objects.with_pks(chosen).values_list("pk", flat=True)) == set(chosen)
    assert list(Job.objects.with_pks([])) == []
