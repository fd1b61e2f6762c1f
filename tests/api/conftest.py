"""Tokens and clients for the API tests (the users are in tests/conftest.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from jobs_app.api.tokens import issue_token
from tests.conftest import staff_with

API = "/api/jobs"


@pytest.fixture
def staff(operator):
    """The API tests' staff user: the operator of tests/conftest.py (may see, retry and cancel jobs)."""
    return operator


@pytest.fixture
def bare_staff(db):
    """A staff user without any jobs_app permission: the admin shows them no jobs, nor does the API."""
    return staff_with("bare")


@pytest.fixture
def token(staff) -> str:
    return issue_token(staff, name="tests")[1]


@pytest.fixture
def api(token) -> Client:
    """A client that sends the staff user's bearer token, and enforces CSRF like a browser would."""
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def session_client(staff) -> Client:
    """A logged-in staff user's browser: session cookie, CSRF enforced."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    return client
