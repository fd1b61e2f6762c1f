"""Helpers to post admin actions the way the change list does (the users are in tests/conftest.py)."""

from __future__ import annotations

from django.urls import reverse


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
