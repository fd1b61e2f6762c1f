"""Admin users with different rights, and helpers to post actions the way the change list does."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse


def staff_with(*codenames: str) -> User:
    user = User.objects.create_user(username="staff-" + "-".join(codenames or ("none",)), password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="jobs_app", codename__in=codenames))
    return user


@pytest.fixture
def operator(db) -> User:
    """May see jobs, retry and cancel them: what an on-call engineer gets."""
    return staff_with("view_job", "view_failedjob", "view_jobattempt", "retry_job", "cancel_job")


@pytest.fixture
def viewer(db) -> User:
    """Staff who may look at jobs but neither retry nor cancel them."""
    return staff_with("view_job", "view_failedjob")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def post_action(
    client, model: str, action: str, jobs=(), *, select_across: bool = False, confirm: bool = True, follow: bool = True
):
    """Post an action as the change list does; across pages, `confirm` also answers the confirmation page."""
    data = {
        "action": action,
        "_selected_action": [str(job.pk) for job in jobs],
        "select_across": "1" if select_across else "0",
        "index": "0",
    }
    if select_across and confirm:
        data["post"] = "yes"
    return client.post(reverse(f"admin:jobs_app_{model}_changelist"), data, follow=follow)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]
