"""Failure fingerprints: one short hex string per cause, so that 40,000 failed jobs show as one line.

Pure functions of strings, no database: the handler, the exception's dotted class path, the
message with its variable parts masked, and the innermost frame of the project's own code
(module and function, no line number, so an edit elsewhere in the file keeps the group).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

# Masked in this order: a URL's query string before the numbers inside it, and so on.
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#'\"]*)\?[^\s#'\"]*"), r"\1?<query>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"(?<![\w'])'[^'\n]*'(?!\w)"), "'<str>'"),
    (re.compile(r"(?<![\w\"])\"[^\"\n]*\"(?!\w)"), '"<str>"'),
    # Hex ids and numbers mask alike: an id that happens to be all digits must not start a group of its own.
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b"), "<n>"),
    # A run of 8 or more hex digits with at least one digit in it: an id, not an English word ("deadbeef" stays).
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{8,}\b"), "<n>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
)
MAX_MESSAGE_CHARS = 2000
TEMPLATE_CHARS = 500
FINGERPRINT_CHARS = 16

_FILE_LINE = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+, in (?P<function>\S+)\s*$')
_CHAIN_MARKERS = (
    "\nThe above exception was the direct cause of the following exception:\n",
    "\nDuring handling of the above exception, another exception occurred:\n",
)
_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::|$)")
_THIRD_PARTY = ("site-packages", "dist-packages")
# jobs_app's own frames (the runner, the payload codec) are never the cause's place, installed or not.
_OWN_PACKAGE = "jobs_app"


@dataclass(frozen=True, kw_only=True)
class Fingerprint:
    """A failure's cause: `value` is the short hex string the group is known by."""

    value: str
    handler: str
    error_type: str
    message: str
    frame: str


def mask(message: str) -> str:
    """The message with numbers, UUIDs, hex ids, e-mail addresses, URL query strings and quoted strings masked."""
    text = message[:MAX_MESSAGE_CHARS]
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())[:TEMPLATE_CHARS]


def dotted_name(error_class: type[BaseException]) -> str:
    """`package.module.ClassName`; a built-in exception is just its name (`ValueError`)."""
    module = error_class.__module__
    return error_class.__qualname__ if module == "builtins" else f"{module}.{error_class.__qualname__}"


def project_frame(traceback: str, roots: Sequence[str]) -> str:
    """`module.function` of the innermost frame in the project's own code, from a formatted traceback.

    Project code is a file under one of `roots` (for example `settings.BASE_DIR`), not in a
    virtualenv's site-packages and not jobs_app itself. Only the last exception of a chain
    counts: it is the one the attempt ended with. "" when there is none (a killed attempt).
    """
    roots = tuple(roots)
    block = traceback
    for marker in _CHAIN_MARKERS:
        block = block.rsplit(marker, 1)[-1]
    for line in reversed(block.splitlines()):
        match = _FILE_LINE.match(line)
        if match is None:
            continue
        module = _module_of(match["path"], roots)
        if module and module != _OWN_PACKAGE and not module.startswith(_OWN_PACKAGE + "."):
            return f"{module}.{match['function']}"
    return ""


@functools.lru_cache(maxsize=4096)  # a worker sees the same few files fail again and again
def _module_of(path: str, roots: tuple[str, ...]) -> str:
    file = PurePath(path)
    if file.suffix != ".py" or any(part in _THIRD_PARTY for part in file.parts):
        return ""
    for root in roots:
        try:
            relative = file.relative_to(root)
        except ValueError:
            continue
        parts = list(relative.with_suffix("").parts)
        if parts and parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts)
    return ""


def error_type_from_traceback(traceback: str, default: str) -> str:
    """The dotted class path in a formatted traceback's last line (`app.errors.Upstream: ...`), else `default`.

    For rows recorded before fingerprints, which kept only the bare class name.
    """
    for line in reversed(traceback.strip().splitlines()):
        if line and not line[0].isspace():
            match = _EXCEPTION_LINE.match(line)
            if match and match["type"].rsplit(".", 1)[-1] == default.rsplit(".", 1)[-1]:
                return match["type"].removeprefix("builtins.")
            break
    return default


@functools.lru_cache(maxsize=1024)  # a failing handler fails the same way many times: masking costs more than a look-up
def fingerprint(*, handler: str, error_type: str, message: str, frame: str = "") -> Fingerprint:
    """The fingerprint of one failure. Messages that differ only in their masked parts share it."""
    template = mask(message)
    digest = hashlib.sha256(json.dumps([handler, error_type, template, frame]).encode()).hexdigest()
    return Fingerprint(
        value=digest[:FINGERPRINT_CHARS], handler=handler, error_type=error_type, message=template, frame=frame
    )
