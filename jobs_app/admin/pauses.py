"""Pausing or resuming a queue or a handler, from the dashboard's buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .. import pauses
from ..exceptions import NothingToPause
from ..registry import all_handlers
from . import audit

if TYPE_CHECKING:
    from .jobs import JobAdmin

ACTIONS = ("pause", "resume")


def pause_view(model_admin: JobAdmin, request: HttpRequest, kind: str, name: str, action: str) -> HttpResponse:
    """POST only (CSRF-checked by `admin_view`), for staff who may retry jobs: pause or resume, with an audit entry."""
    if not (model_admin.has_view_permission(request) and model_admin.has_retry_permission(request)):
        raise PermissionDenied
    if action not in ACTIONS:
        raise Http404(f"No action {action!r}")
    change = pauses.pause if action == "pause" else pauses.resume
    try:
        changed = change(kind, name, handlers=all_handlers(), by=request.user.get_username())
    except NothingToPause as error:
        raise Http404(str(error)) from None
    values = {"kind": kind, "name": name}
    if not changed:
        done = _("already paused") if action == "pause" else _("not paused")
        model_admin.message_user(request, _("The %(kind)s %(name)s was %(done)s.") % {**values, "done": done})
    elif action == "pause":
        audit.log_event(request.user.pk, f"{kind} {name}", f"Paused the {kind} {name!r}")
        model_admin.message_user(
            request,
            _("The %(kind)s %(name)s is paused: its jobs wait, unrun, until it is resumed.") % values,
            messages.WARNING,
        )
    else:
        audit.log_event(request.user.pk, f"{kind} {name}", f"Resumed the {kind} {name!r}")
        model_admin.message_user(request, _("The %(kind)s %(name)s is resumed: its jobs run again.") % values)
    return redirect("admin:jobs_app_job_dashboard")
