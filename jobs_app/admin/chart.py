"""The dashboard's chart: succeeded and failed attempts per hour, drawn on the server as SVG (no JavaScript)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from ..stats import HourlyAttempts

SUCCEEDED_COLOUR = "#2e7d32"
FAILED_COLOUR = "#b00020"
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 12, 34


def attempts_chart(series: Sequence[HourlyAttempts]) -> SafeString:
    """Two bars per hour (succeeded, failed), a y axis with its top value, an hour label every 3 hours."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max([1, *(max(hour.succeeded, hour.failed) for hour in series)])
    slot = plot_width / max(1, len(series))
    bar = max(1.0, slot * 0.38)
    bars, labels = [], []
    for index, hour in enumerate(series):
        x = LEFT + index * slot + slot * 0.1
        start = hour.start.strftime("%H:00")
        for offset, count, colour, name in (
            (0, hour.succeeded, SUCCEEDED_COLOUR, _("succeeded")),
            (bar, hour.failed, FAILED_COLOUR, _("failed")),
        ):
            height = plot_height * count / top
            y = TOP + plot_height - height
            bars.append(
                (f"{x + offset:.1f}", f"{y:.1f}", f"{bar:.1f}", f"{height:.1f}", colour, f"{start}: {count} {name}")
            )
        if index % 3 == 0 or index == len(series) - 1:
            labels.append((f"{x + bar:.1f}", HEIGHT - BOTTOM + 16, start))
    axis_y = TOP + plot_height
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="jobs-chart" viewBox="0 0 {w} {h}" width="100%" '
        'role="img" aria-label="{label}" style="max-width:{w}px;font:11px sans-serif">'
        "<title>{label}</title>"
        '<line x1="{left}" y1="{top}" x2="{left}" y2="{axis_y}" stroke="currentColor" stroke-opacity=".4"/>'
        '<line x1="{left}" y1="{axis_y}" x2="{right}" y2="{axis_y}" stroke="currentColor" stroke-opacity=".4"/>'
        '<line x1="{left}" y1="{top}" x2="{right}" y2="{top}" stroke="currentColor" stroke-opacity=".15"/>'
        '<text x="{tick_x}" y="{top_text}" text-anchor="end" fill="currentColor">{max}</text>'
        '<text x="{tick_x}" y="{axis_y}" text-anchor="end" fill="currentColor">0</text>'
        "{bars}{labels}</svg>",
        w=WIDTH,
        h=HEIGHT,
        label=_("Succeeded and failed attempts per hour, last %(hours)d hours") % {"hours": len(series)},
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        top_text=TOP + 4,
        axis_y=axis_y,
        tick_x=LEFT - 6,
        max=top,
        bars=format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
            bars,
        ),
        labels=format_html_join("", '<text x="{}" y="{}" text-anchor="middle" fill="currentColor">{}</text>', labels),
    )


SPARK_WIDTH, SPARK_HEIGHT = 120, 22


def sparkline(counts: Sequence[int], *, label: str) -> SafeString:
    """A small bar per period (a failure group's attempts per hour), scaled to the busiest one."""
    top = max([1, *counts])
    slot = SPARK_WIDTH / max(1, len(counts))
    bars = []
    for index, count in enumerate(counts):
        if count:
            height = max(1.0, (SPARK_HEIGHT - 2) * count / top)
            bars.append(
                (f"{index * slot:.1f}", f"{SPARK_HEIGHT - height:.1f}", f"{max(1.0, slot - 0.5):.1f}", f"{height:.1f}")
            )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="jobs-sparkline" viewBox="0 0 {w} {h}" width="{w}" '
        'height="{h}" role="img" aria-label="{label}"><title>{label}</title>'
        '<line x1="0" y1="{h}" x2="{w}" y2="{h}" stroke="currentColor" stroke-opacity=".3"/>{bars}</svg>',
        w=SPARK_WIDTH,
        h=SPARK_HEIGHT,
        label=label,
        bars=format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}" fill="' + FAILED_COLOUR + '"/>', bars),
    )
