"""docs/tasks-backend.md: its Python examples compile, and its TASKS setting makes a working backend."""

import re

from django.conf import settings

from jobs_app.backends import JobsAppBackend

PAGE = settings.BASE_DIR / "docs" / "tasks-backend.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def test_every_python_example_compiles():
    blocks = examples()
    assert len(blocks) >= 4
    for number, block in enumerate(blocks, 1):
        compile(block, f"{PAGE.name} example {number}", "exec")


def test_the_settings_example_is_a_valid_backend_configuration():
    namespace = {}
    exec(next(block for block in examples() if "TASKS = {" in block), namespace)
    backend = JobsAppBackend("default", namespace["TASKS"]["default"])
    assert backend.retry_policy.attempts == 5 and backend.retry_policy.give_up_on == (PermissionError,)
    assert backend.task_policies["shop.tasks.charge_card"].timeout == 30
    assert {message.id for message in backend.check()} == {"jobs_app.tasks.W001"}
