"""What ended an attempt, as plain values: what the record keeps of an exception and what the retry policy
needs of it, taken where the exception was raised (a forking worker's work horse sends it to its worker)."""

from __future__ import annotations

import traceback as traceback_module
from dataclasses import dataclass
from typing import Any

from .exceptions import JobTimeout
from .fingerprint import dotted_name
from .payload import safe_text
from .policy import gives_up


@dataclass(frozen=True, kw_only=True)
class ErrorReport:
    """An exception that ended an attempt: its class's names, its message and traceback (made storable), and
    whether the retry policy gives up on it (`policy.gives_up`) and whether it was the handler's time limit."""

    type_name: str
    dotted_type: str
    message: str
    traceback: str = ""
    gives_up: bool = False
    timed_out: bool = False

    @classmethod
    def of(
        cls, error: BaseException, *, give_up_on: tuple[type[BaseException], ...] = (), traceback: str = ""
    ) -> ErrorReport:
        return cls(
            type_name=safe_text(type(error).__name__),
            dotted_type=safe_text(dotted_name(type(error))),
            message=safe_text(error),
            traceback=safe_text(traceback),
            gives_up=gives_up(error, give_up_on),
            timed_out=isinstance(error, JobTimeout),
        )

    @classmethod
    def from_dict(cls, data: Any) -> ErrorReport:
        """The report from its JSON form (`dataclasses.asdict`), checked field by field."""
        if not isinstance(data, dict) or set(data) != _FIELDS:
            raise ValueError(f"not an error report: {data!r}"[:200])
        text = ("type_name", "dotted_type", "message", "traceback")
        if not all(isinstance(data[name], str) for name in text) or not all(
            isinstance(data[name], bool) for name in ("gives_up", "timed_out")
        ):
            raise ValueError(f"not an error report: {data!r}"[:200])
        return cls(**data)


_FIELDS = frozenset(ErrorReport.__dataclass_fields__)


def formatted_traceback(error: BaseException) -> str:
    """`error`'s traceback as Python prints it (every frame's file, line number, function and source line, the
    chained and grouped exceptions, the exception's line), without the `^^^^` marks under each source line.

    Python 3.11 places those marks by parsing each frame's source line again: half the cost of formatting a
    failure's traceback, for marks under a line the stored traceback shows anyway.
    """
    summary = traceback_module.TracebackException.from_exception(error)
    todo, seen = [summary], set()
    while todo:
        linked = todo.pop()
        if id(linked) in seen:
            continue
        seen.add(id(linked))
        for frame in linked.stack:
            frame.colno = frame.end_colno = None  # no columns: no marks
        more = (linked.__cause__, linked.__context__, *(getattr(linked, "exceptions", None) or ()))
        todo.extend(other for other in more if other is not None)
    return "".join(summary.format())
