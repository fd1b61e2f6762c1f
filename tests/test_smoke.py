import pytest

from jobs_app.models import Job
from tests.testapp import handlers


@pytest.mark.django_db(transaction=True)
def test_enqueue_and_run(run_worker):
    job = handlers.add.enqueue(2, 3)
    run_worker()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert job.result == 5
