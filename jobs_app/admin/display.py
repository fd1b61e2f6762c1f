"""How job fields look in the admin: badges, `2/5`, JSON and tracebacks, all escaped with `format_html`."""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from ..payload import safe_text
from ..states import State

# Background colours of the state badges; white text reads on each of them.
STATE_COLOURS: dict[str, str] = {
    State.SCHEDULED: "#6f42c1",
    State.QUEUED: "#417690",
    State.RUNNING: "#0d6efd",
    State.SUCCEEDED: "#2e7d32",
    State.FAILED: "#c77700",
    State.DEAD: "#b00020",
    State.CANCELLED: "#6c757d",
}
ERROR_PREVIEW_CHARS = 80


def state_badge(state: str) -> SafeString:
    return format_html(
        '<span class="jobs-state jobs-state-{}" style="background:{};color:#fff;padding:1px 7px;'
        'border-radius:9px;font-size:11px;font-weight:600;white-space:nowrap">{}</span>',
        state,
        STATE_COLOURS.get(state, "#6c757d"),
        State(state).label if state in State.values else state,
    )


def short_id(pk: Any) -> str:
    return str(pk)[:8]


def attempts(done: int, allowed: int) -> str:
    return f"{done}/{allowed}"


def error_preview(error_type: str, message: str) -> SafeString | str:
    """`Type: message`, cut to one line; the full text (up to 500 characters) in the tooltip."""
    text = f"{error_type}: {message}" if error_type and message else error_type or message
    if not text:
        return "-"
    one_line = " ".join(text.split())
    return format_html(
        '<span title="{}">{}</span>',
        Truncator(one_line).chars(500),
        Truncator(one_line).chars(ERROR_PREVIEW_CHARS),
    )


def json_block(value: Any) -> SafeString:
    return format_html(
        '<pre class="jobs-json" style="margin:0;white-space:pre-wrap">{}</pre>',
        # safe_text: rows stored before enqueue refused lone surrogates may still hold them.
        safe_text(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)),
    )


def preformatted(text: str) -> SafeString | str:
    if not text:
        return "-"
    return format_html(
        '<pre class="jobs-traceback" style="margin:0;white-space:pre-wrap;max-height:40em;overflow:auto">{}</pre>',
        text,
    )


def progress_bar(percent: int, message: str) -> SafeString:
    return format_html(
        '<progress value="{}" max="100" style="vertical-align:middle"></progress> {}%{}',
        percent,
        percent,
        format_html(" &ndash; {}", message) if message else "",
    )


def error_details(error_type: str, message: str, traceback: str) -> SafeString | str:
    """An attempt's error: the one-line preview, opening to the full message and traceback."""
    if not (error_type or message or traceback):
        return "-"
    return format_html(
        "<details><summary>{}</summary>{}{}</details>",
        error_preview(error_type, message),
        format_html('<p style="white-space:pre-wrap">{}</p>', message) if message else "",
        preformatted(traceback) if traceback else "",
    )
