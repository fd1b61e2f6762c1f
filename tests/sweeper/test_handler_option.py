"""`@job_handler(auto_retry=...)`."""

import pytest

from jobs_app import AutoRetry, job_handler
from jobs_app.registry import get_handler


def test_handlers_carry_their_auto_retry_policy():
    assert get_handler("test.add").auto_retry is None  # the settings' default
    assert get_handler("test.sweeper_no_auto_retry").auto_retry is False
    policy = get_handler("test.sweeper_rate_limited").auto_retry
    assert policy == AutoRetry(delay=60, max_retries=1, delay_for={"RateLimitError": 900})


def test_using_keeps_the_policy():
    assert get_handler("test.sweeper_rate_limited").using(queue="email").auto_retry.max_retries == 1


def test_a_wrong_value_is_refused_when_declared():
    with pytest.raises(TypeError, match="auto_retry must be AutoRetry"):

        @job_handler("test.sweeper_bad_option", auto_retry={"delay": 5})
        def bad():
            pass
