"""JSON errors: `ApiError` carries a status and a message; `error_response` renders one."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults


class ApiError(Exception):
    """Raised anywhere below a view; the endpoint decorator answers `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None, **extra) -> JsonResponse:
    response = JsonResponse({"error": message, **extra}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A project's `handler400` that answers requests under the API's URLs in JSON (`{"error": "Bad Request"}`)
    and every other one with Django's own page.

    Django answers some requests before any view runs, a `Host` outside `ALLOWED_HOSTS` first; set
    `handler400 = "jobs_app.api.errors.bad_request"` in the project's root URLconf so that the API's
    callers get JSON there too (see docs/api.md).
    """
    try:
        in_api = resolve(request.path_info).app_name == "jobs_api"
    except Resolver404:
        in_api = False
    if in_api:
        return error_response(400, "Bad Request")
    return defaults.bad_request(request, exception)
