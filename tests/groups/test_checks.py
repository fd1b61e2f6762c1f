"""JOBS_APP["GROUP_RETRY_RATE"] is checked at startup."""

from __future__ import annotations

import pytest
from django.test import override_settings

from jobs_app.checks import check_group_settings


@pytest.mark.parametrize("rate", [0, -2, "10", True, None])
def test_a_rate_that_is_not_a_number_above_zero_is_an_error(rate):
    with override_settings(JOBS_APP={"GROUP_RETRY_RATE": rate}):
        [error] = check_group_settings()
    assert error.id == "jobs_app.E311" and "GROUP_RETRY_RATE" in error.msg


@pytest.mark.parametrize("rate", [0.5, 10, 250])
def test_a_positive_rate_passes(rate):
    with override_settings(JOBS_APP={"GROUP_RETRY_RATE": rate}):
        assert check_group_settings() == []
