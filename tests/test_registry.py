"""@job_handler: options checked at once, names unique, handlers found by name."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured

from jobs_app import Backoff, HandlerNotFound, get_handler, job_handler
from jobs_app.registry import _registry
from tests.testapp import handlers


@pytest.fixture
def scratch_registry():
    """Let a test register handlers of its own and leave the registry as it was."""
    saved = dict(_registry)
    yield
    _registry.clear()
    _registry.update(saved)


def test_handlers_are_discovered_from_installed_apps_handlers_modules():
    assert get_handler("test.add") is handlers.add
    assert get_handler("demo.square").name == "demo.square"


def test_unknown_name_raises_handler_not_found_with_a_hint():
    with pytest.raises(HandlerNotFound, match="No job handler is registered under 'nope'.*handlers.py"):
        get_handler("nope")


def test_decorator_defaults():
    handler = get_handler("test.add")
    assert (handler.queue, handler.attempts, handler.timeout, handler.give_up_on) == ("default", 3, None, ())
    assert handler.backoff == Backoff.exponential(delay=1)


def test_a_plain_call_runs_inline():
    assert handlers.add(2, 3) == 5


def test_a_plain_call_of_a_context_handler_gets_an_inline_context():
    assert handlers.succeeds_on_attempt(1) == 1  # context.attempt is 1, progress goes nowhere


def test_decorated_function_keeps_its_name_and_docstring(scratch_registry):
    @job_handler("test.documented")
    def documented():
        """Does a thing."""

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Does a thing."


def test_two_functions_under_one_name_is_improperly_configured(scratch_registry):
    @job_handler("test.twice")
    def first():
        pass

    with pytest.raises(ImproperlyConfigured, match="Two job handlers are named 'test.twice'"):

        @job_handler("test.twice")
        def second():
            pass


def test_unknown_decorator_option_is_a_type_error():
    with pytest.raises(TypeError, match="unknown option.*retries"):
        job_handler("test.bad", retries=3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"attempts": 0}, "attempts must be a whole number of at least 1"),
        ({"priority": "urgent"}, "priority must be one of high, normal, low"),
        ({"backoff": 5}, "backoff must be Backoff"),
        ({"give_up_on": (ValueError, "oops")}, "give_up_on must be a tuple of exception classes"),
        ({"on_retry": "not callable"}, "on_retry must be callable"),
        ({"timeout": 0}, "timeout must be more than 0"),
    ],
)
def test_bad_decorator_options_fail_at_once(scratch_registry, options, message):
    with pytest.raises((TypeError, ValueError), match=message):
        job_handler("test.bad", **options)(lambda: None)


def test_using_returns_a_modified_copy_and_leaves_the_handler_alone():
    urgent = handlers.add.using(priority="high", attempts=7)
    assert (urgent.priority, urgent.attempts) == ("high", 7)
    assert (handlers.add.priority, handlers.add.attempts) == ("normal", 3)
    assert urgent.backoff == handlers.add.backoff


def test_using_rejects_unknown_options():
    with pytest.raises(TypeError, match=r"using\(\) got unknown option\(s\) retries"):
        handlers.add.using(retries=3)


def test_using_rejects_delay_and_at_together_and_naive_datetimes():
    with pytest.raises(TypeError, match="delay= or at=, not both"):
        handlers.add.using(delay=5, at=datetime.now(UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        handlers.add.using(at=datetime.now())


def test_a_later_delay_replaces_an_earlier_at():
    later = handlers.add.using(at=datetime.now(UTC)).using(delay=timedelta(seconds=5))
    assert (later.at, later.delay) == (None, 5)
