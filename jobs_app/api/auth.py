"""Who may call the API: staff users by session (with CSRF on POST) or by `Authorization: Bearer <token>`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware

from .errors import ApiError
from .tokens import user_for_token

if TYPE_CHECKING:
    from django.contrib.auth.models import User

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="jobs_app"'}


class _CsrfCheck(CsrfViewMiddleware):
    """Django's CSRF check, returning the reason it failed instead of an HTML page."""

    def _reject(self, request: HttpRequest, reason: str) -> str:
        return reason


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None when there is no Bearer header."""
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def authenticate(request: HttpRequest) -> User:
    """The staff user making this request, or ApiError 401 (no or bad credentials) / 403 (not staff, CSRF)."""
    raw = bearer_token(request)
    if raw is not None:
        user = user_for_token(raw)
        if user is None:
            raise ApiError(401, "Invalid or revoked API token", headers=_CHALLENGE)
        # A token is not a cookie a browser sends by itself: no CSRF check.
        request.user = user
    else:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            raise ApiError(
                401, "Authentication required: log in as a staff user or send a Bearer token", headers=_CHALLENGE
            )
        # Only the check is used, never a response or a view: neither is ever called.
        check = _CsrfCheck(lambda request: None)  # type: ignore[arg-type]
        check.process_request(request)
        reason = check.process_view(request, None, (), {})  # type: ignore[arg-type]
        if reason:
            raise ApiError(403, f"CSRF check failed: {reason}")
    if not user.is_staff:
        raise ApiError(403, "Staff users only")
    return user


# Reading jobs needs what the admin asks for to show them: the view (or change) permission.
VIEW_PERMISSION = "jobs_app.view_job"
_ALSO_GRANTS = {VIEW_PERMISSION: ("jobs_app.change_job",)}


def require_permission(user: User, permission: str) -> None:
    """ApiError 403 unless `user` has `permission` (the view permission is also granted by change, as in the admin)."""
    if not any(user.has_perm(name) for name in (permission, *_ALSO_GRANTS.get(permission, ()))):
        raise ApiError(403, f"Permission {permission!r} required")
