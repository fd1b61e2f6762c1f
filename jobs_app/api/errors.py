"""JSON errors: `ApiError` carries a status and a message; `error_response` renders one."""

from __future__ import annotations

from django.http import JsonResponse


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
