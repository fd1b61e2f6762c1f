"""Arguments and results travel as JSON: check them at the door, with errors that name the culprit.

Everything jobs_app stores is valid UTF-8 JSON that both SQLite and PostgreSQL accept:
arguments are checked at enqueue (a bad one raises at once), and what is recorded later
(results, error messages, tracebacks, progress messages) is made safe with `safe_text`.
"""

from __future__ import annotations

import json
from typing import Any

from .conf import app_settings

# Deeper than this is refused: json, SQLite's JSON functions and the worker's decoding all
# recurse, and a clear TypeError at enqueue beats a RecursionError anywhere later.
MAX_NESTING = 100


def _dumps(value: Any) -> str:
    # allow_nan=False: NaN is not JSON, and PostgreSQL's jsonb refuses it.
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def storable(text: str) -> bool:
    """True when `text` can be stored as is: no lone surrogate, no NUL."""
    return not _unstorable(text)


def _unstorable(text: str) -> bool:
    """True for a string UTF-8 cannot encode (a lone surrogate) or PostgreSQL cannot store (NUL)."""
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def safe_text(value: object) -> str:
    """`value` as a string that can be stored and shown anywhere: lone surrogates and NUL become
    visible escapes (`\\ud800`, `\\x00`). Never raises, even for an object whose `str()` does."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # an exception's __str__ may itself raise; the record must not be lost for it
        return f"<unprintable {type(value).__name__} object>"
    if not _unstorable(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")


def _json_key(key: Any) -> str | None:
    """The string json.dumps turns a dict key into; None for a key it refuses."""
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return float.__repr__(key)
    return None


class _Refused(TypeError):
    """Why a value cannot be stored, and where in it (the path is filled in on the way out)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []

    def at(self, label: str) -> str:
        steps = self.path[::-1]
        if len(steps) > 6:
            steps = [*steps[:3], "...", *steps[-2:]]
        return f"{label}{''.join(steps)} {self.reason}"


def _checked(value: Any, *, repair: bool, depth: int = 0) -> Any:
    """`value` with its dict keys as JSON makes them; `_Refused` for nesting too deep, keys that collide
    once made strings, and (unless `repair`, which replaces them) strings that cannot be stored."""
    if depth > MAX_NESTING:
        raise _Refused(f"is nested more than {MAX_NESTING} levels deep")
    if isinstance(value, str):
        if not _unstorable(value):
            return value
        if repair:
            return safe_text(value)
        raise _Refused("contains a lone surrogate or a NUL character, which cannot be stored as UTF-8 JSON")
    if isinstance(value, list | tuple):
        items = []  # only filled when repairing: checking alone copies nothing
        for index, item in enumerate(value):
            try:
                checked_item = _checked(item, repair=repair, depth=depth + 1)
            except _Refused as refused:
                refused.path.append(f"[{index}]")
                raise
            if repair:
                items.append(checked_item)
        return items if repair else value
    if isinstance(value, dict):
        names: dict[str, Any] = {}
        for key, item in value.items():
            name = _key(key, names, repair=repair)
            try:
                names[name] = _checked(item, repair=repair, depth=depth + 1)
            except _Refused as refused:
                refused.path.append(f"[{name!r}]")
                raise
        return names if repair else value
    return value


def _key(key: Any, taken: dict[str, Any], *, repair: bool) -> str:
    """The string json.dumps makes of a dict key, refused when JSON would lose or merge it."""
    name = key if type(key) is str else _json_key(key)
    if name is None:
        raise _Refused(f"has a key of type {type(key).__name__}; JSON keys are strings")
    if _unstorable(name):
        if not repair:
            raise _Refused(f"has a key ({safe_text(name)!r}) that cannot be stored as UTF-8 JSON")
        name = safe_text(name)
    if name in taken:
        raise _Refused(f"has two keys that are both {name!r} in JSON (such as 1 and '1')")
    return name


def encode_arguments(handler_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[list, dict]:
    """The arguments as JSON values, or `TypeError`/`ValueError` saying which one is wrong."""
    for key in kwargs:
        if _unstorable(key):
            raise TypeError(f"{handler_name}: keyword argument name {safe_text(key)!r} cannot be stored as UTF-8 JSON")
    # The labels ("argument 2", "keyword argument 'when'") are only made for an error: enqueue is a hot path.
    for position, value in enumerate((*args, *kwargs.values())):
        try:
            _checked(value, repair=False)
        except _Refused as refused:
            label = _argument_label(position, args, kwargs)
            raise TypeError(
                f"{handler_name}: {label} ({type(value).__name__}) cannot be stored: {refused.at(label)}."
            ) from None
    try:
        encoded = _dumps([list(args), kwargs])
    except (TypeError, ValueError):
        for position, value in enumerate((*args, *kwargs.values())):
            try:
                _dumps(value)
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"{handler_name}: {_argument_label(position, args, kwargs)} ({type(value).__name__}) is not "
                    f"JSON-serialisable: {error}. Pass ids, strings, numbers, lists and dicts; load objects inside "
                    "the handler."
                ) from None
        raise
    limit = app_settings.MAX_PAYLOAD_BYTES
    size = len(encoded)  # `_dumps` escapes every non-ASCII character: a byte a character
    if size > limit:
        raise ValueError(
            f"{handler_name}: the arguments take {size} bytes as JSON, over the {limit}-byte limit "
            '(JOBS_APP["MAX_PAYLOAD_BYTES"]). Store large data elsewhere and pass a reference.'
        )
    decoded_args, decoded_kwargs = json.loads(encoded)
    return decoded_args, decoded_kwargs


def _argument_label(position: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """How an error names the argument at `position` of `(*args, *kwargs.values())`."""
    if position < len(args):
        return f"argument {position + 1}"
    return f"keyword argument {list(kwargs)[position - len(args)]!r}"


def encode_result(handler_name: str, value: Any) -> Any:
    """A handler's return value as a JSON value (strings made storable), or `TypeError` saying why not."""
    try:
        return json.loads(_dumps(_checked(value, repair=True)))
    except _Refused as refused:
        raise TypeError(f"{handler_name} returned a value that cannot be stored: {refused.at('the result')}") from None
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{handler_name} returned a {type(value).__name__}, which is not JSON-serialisable: {error}"
        ) from None
