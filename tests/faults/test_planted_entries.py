"""Issue 15, defect 1, with real `manage.py rqworker` processes: an entry planted in any place RQ loads
jobs from (each registry, the intermediate list, the queue, a dependents set), naming a forbidden
callable or callback or damaged past reading, is quarantined; the worker and its scheduler go on
running jobs, and so does the next worker."""

import pytest

from jobs_app.models import Job
from tests.faults.consistency import assert_consistent
from tests.faults.planted import BREAKAGES, MISSING_DATA, PLACES, is_quarantined, place, plant_job, still_placed
from tests.polling import wait_for
from tests.testapp import fault_handlers

pytestmark = [pytest.mark.faults, pytest.mark.subprocess, pytest.mark.django_db(transaction=True)]

# Each place with another kind of damage; the started registry with the original defect's.
# (tests/test_worker.py crosses every place with every kind, in process.)
CASES = list(zip(PLACES, [*BREAKAGES, MISSING_DATA], strict=False))
assert CASES[0] == ("started", "forbidden failure callback")


@pytest.mark.parametrize(("where", "breakage"), CASES)
def test_a_planted_entry_is_quarantined_and_workers_keep_running_jobs(rq_redis, processes, tmp_path, where, breakage):
    planted = plant_job(rq_redis, breakage)
    place(rq_redis, where, planted)
    jobs = [fault_handlers.count.enqueue(str(tmp_path)) for _ in range(3)]

    first = processes.worker("faults-planted-1")
    wait_for(lambda: is_quarantined(rq_redis, planted), message="the planted job to be quarantined")
    wait_for(lambda: Job.objects.filter(state=Job.State.SUCCEEDED).count() == 3, message="the real jobs to run")
    assert still_placed(rq_redis, planted) == []
    assert first.poll() is None, processes.log("faults-planted-1")[-3000:]
    assert "Refused: RQ job " + planted in processes.log("faults-planted-1")

    # The next worker too (before the fix, it met the same entry and quit as well).
    second = processes.worker("faults-planted-2")
    after = fault_handlers.count.enqueue(str(tmp_path))
    wait_for(lambda: Job.objects.get(pk=after.pk).state == Job.State.SUCCEEDED, message="a new job to run")
    assert (first.poll(), second.poll()) == (None, None)
    assert all(len(list(tmp_path.glob(f"ran-{job.pk}-*"))) == 1 for job in [*jobs, after])
    assert_consistent()
