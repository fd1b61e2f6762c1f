"""Closing or opening a circuit breaker by hand, from the dashboard's breaker table."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .. import breaker

if TYPE_CHECKING:
    from .jobs import JobAdmin

logger = logging.getLogger("jobs_app")

ACTIONS = ("open", "close")


def breaker_view(model_admin: JobAdmin, request: HttpRequest, name: str, action: str) -> HttpResponse:
    """POST only (CSRF-checked by `admin_view`), for staff who may retry jobs: open or close one breaker."""
    if not (model_admin.has_view_permission(request) and model_admin.has_retry_permission(request)):
        raise PermissionDenied
    if action not in ACTIONS or name not in breaker.names():
        raise Http404(f"No breaker {name!r} or no action {action!r}")
    target = breaker.Breaker(name)
    by = request.user.get_username()
    if action == "open":
        target.open(by=by)
        model_admin.message_user(
            request, _("Breaker %(name)s is open: its jobs wait for the recovery timeout.") % {"name": name}
        )
    else:
        target.close(by=by)
        model_admin.message_user(
            request, _("Breaker %(name)s is closed: its jobs run again.") % {"name": name}, messages.SUCCESS
        )
    return redirect("admin:jobs_app_job_dashboard")
