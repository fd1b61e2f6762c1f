"""Validation of what a caller sends: query parameters and JSON bodies. Anything off is an ApiError 400."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest

from ..payload import storable
from .errors import ApiError

MAX_TEXT_LENGTH = 200
_DIGITS = re.compile(r"[0-9]{1,12}")


def integer(request: HttpRequest, name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    if not _DIGITS.fullmatch(raw) or not minimum <= int(raw) <= maximum:
        raise ApiError(400, f"'{name}' must be an integer from {minimum} to {maximum}")
    return int(raw)


MAX_LIMIT = 500
MAX_OFFSET = 1_000_000_000


def page(request: HttpRequest) -> tuple[int, int]:
    """`limit` (1 to 500, default 50) and `offset` (default 0) of a list endpoint."""
    limit = integer(request, "limit", default=50, minimum=1, maximum=MAX_LIMIT)
    return limit, integer(request, "offset", default=0, minimum=0, maximum=MAX_OFFSET)


def text(value: Any, name: str) -> str:
    """A filter value: a string of at most 200 characters without control characters or lone surrogates
    (which JSON can carry but no database column can hold); "" or None means none."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"'{name}' must be a string")
    if len(value) > MAX_TEXT_LENGTH or any(ord(char) < 32 for char in value) or not storable(value):
        raise ApiError(400, f"'{name}' must be at most {MAX_TEXT_LENGTH} printable characters")
    return value


def choice(value: Any, name: str, choices: Iterable[str], *, default: str) -> str:
    if value is None or value == "":
        return default
    choices = list(choices)
    if value not in choices:
        raise ApiError(400, f"'{name}' must be one of: {', '.join(choices)}")
    return value


def json_object(request: HttpRequest, allowed: Iterable[str]) -> dict[str, Any]:
    """The request body as a JSON object with only `allowed` keys; an empty body is `{}`."""
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):
        raise ApiError(400, "Malformed JSON body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The JSON body must be an object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, f"Unknown field(s): {', '.join(unknown)}")
    return body


def job_id(raw: str) -> uuid.UUID:
    """A job id from the URL; anything that is not a UUID is a job that does not exist."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ApiError(404, f"Job '{raw}' not found") from None
