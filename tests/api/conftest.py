"""Users, tokens and clients for the API tests."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from jobs_app.api.tokens import issue_token

API = "/api/jobs"


@pytest.fixture
def staff(django_user_model):
    """A staff user who may also retry jobs, move them to dead and resolve or mute failure groups."""
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["retry_job", "dead_letter_job", "change_failuregroup"], content_type__app_label="jobs_app"
        )
    )
    return user


@pytest.fixture
def viewer(django_user_model):
    """A staff user without the retry permission."""
    return django_user_model.objects.create_user("viewer", password="pw", is_staff=True)


@pytest.fixture
def outsider(django_user_model):
    """An active user who is not staff."""
    return django_user_model.objects.create_user("outsider", password="pw")


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
