"""Arguments and results travel as JSON: check them at the door, with errors that name the culprit."""

from __future__ import annotations

import json
from typing import Any

from .conf import app_settings


def _dumps(value: Any) -> str:
    # allow_nan=False: NaN is not JSON, and PostgreSQL's jsonb refuses it.
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def encode_arguments(handler_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[list, dict]:
    """The arguments as JSON values, or `TypeError`/`ValueError` saying which one is wrong."""
    try:
        encoded = _dumps([list(args), kwargs])
    except (TypeError, ValueError):
        named = [(f"argument {i + 1}", value) for i, value in enumerate(args)]
        named += [(f"keyword argument {key!r}", value) for key, value in kwargs.items()]
        for label, value in named:
            try:
                _dumps(value)
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"{handler_name}: {label} ({type(value).__name__}) is not JSON-serialisable: {error}. "
                    "Pass ids, strings, numbers, lists and dicts; load objects inside the handler."
                ) from None
        raise
    limit = app_settings.MAX_PAYLOAD_BYTES
    size = len(encoded.encode())
    if size > limit:
        raise ValueError(
            f"{handler_name}: the arguments take {size} bytes as JSON, over the {limit}-byte limit "
            '(JOBS_APP["MAX_PAYLOAD_BYTES"]). Store large data elsewhere and pass a reference.'
        )
    decoded_args, decoded_kwargs = json.loads(encoded)
    return decoded_args, decoded_kwargs


def encode_result(handler_name: str, value: Any) -> Any:
    """A handler's return value as a JSON value, or `TypeError` saying why not."""
    try:
        return json.loads(_dumps(value))
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{handler_name} returned a {type(value).__name__}, which is not JSON-serialisable: {error}"
        ) from None
