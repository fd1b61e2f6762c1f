"""docs/tasks-backend.md's TASKS example builds a working backend (tests/test_docs.py compiles every example)."""

from jobs_app.backends import JobsAppBackend
from tests.test_docs import ROOT, examples


def test_the_settings_example_is_a_valid_backend_configuration():
    block = next(example for example in examples(ROOT / "docs" / "tasks-backend.md") if "TASKS = {" in example.source)
    namespace = {}
    exec(compile(block.source, block.name, "exec"), namespace)
    backend = JobsAppBackend("default", namespace["TASKS"]["default"])
    assert backend.retry_policy.attempts == 5 and backend.retry_policy.give_up_on == (PermissionError,)
    assert backend.task_policies["shop.tasks.charge_card"].timeout == 30
    # shop.tasks.charge_card is no task in the tests: a warning, and no error.
    assert {message.id for message in backend.check()} == {"jobs_app.tasks.W001"}
