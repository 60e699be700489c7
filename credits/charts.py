"""The credits page's chart of the spend history, drawn on the server as inline SVG.

Layer 1: numbers in, markup out (no database, no script, no library). Every value is put in
through ``format_html``, so the markup is safe; no ``style`` attribute anywhere, so the chart
passes a strict Content-Security-Policy: its look is the stylesheet's (``.credits-chart-*``,
with the ``--credits-*`` colours, light and dark alike).

Two panels in one picture: bars of the daily spend, then the line of the remaining credits
(with a line at zero when the credits went below it). The picture is ``role="img"``, named by
the sentence that sums it up; the page's table holds the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 600
LABEL = 18  # room above a panel for its label
PLOT = 100  # a panel's height
GAP = 16  # between the two panels
HEIGHT = 2 * (LABEL + PLOT) + GAP


def _n(value: float) -> str:
    return f"{value:.1f}"


def bar_heights(values: Sequence[float], height: float = PLOT) -> list[float]:
    """Each value's bar: the largest spans ``height``; nothing spent (or nothing at all), no bars."""
    top = max(values, default=0.0)
    if top <= 0:
        return [0.0] * len(values)
    return [height * max(value, 0.0) / top for value in values]


def line_points(points: Sequence[tuple[float, float]], height: float = PLOT) -> tuple[list[tuple[float, float]], float]:
    """``(fraction of the time axis, value)`` as ``(x, y)`` in a panel ``WIDTH`` by ``height``
    (y down), and the y of zero. The scale always holds zero, so a balance below it shows below
    the zero line rather than off the chart."""
    values = [value for _x, value in points]
    low, high = min([0.0, *values]), max([0.0, *values])
    if high == low:
        high = low + 1.0

    def y(value: float) -> float:
        return height * (high - value) / (high - low)

    return [(WIDTH * min(max(x, 0.0), 1.0), y(value)) for x, value in points], y(0.0)


def _bars(values: Sequence[float], top: float) -> SafeString:
    if not values:
        return SafeString("")
    slot = WIDTH / len(values)
    return format_html_join(
        "",
        '<rect class="credits-chart-bar" x="{}" y="{}" width="{}" height="{}"/>',
        (
            (_n(i * slot + slot * 0.1), _n(top + PLOT - height), _n(slot * 0.8), _n(height))
            for i, height in enumerate(bar_heights(values))
        ),
    )


def _line(points: Sequence[tuple[float, float]], top: float) -> SafeString:
    drawn, zero = line_points(points)
    baseline = format_html(
        '<line class="credits-chart-axis{}" x1="0" y1="{}" x2="{}" y2="{}"/>',
        " credits-chart-zero" if zero < PLOT else "",
        _n(top + zero),
        WIDTH,
        _n(top + zero),
    )
    if len(drawn) == 1:
        x, y = drawn[0]
        return format_html('{}<circle class="credits-chart-dot" cx="{}" cy="{}" r="3"/>', baseline, _n(x), _n(top + y))
    if not drawn:
        return baseline
    coordinates = " ".join(f"{_n(x)},{_n(top + y)}" for x, y in drawn)
    return format_html('{}<polyline class="credits-chart-line" points="{}"/>', baseline, coordinates)


def chart(
    daily: Sequence[float],
    remaining: Sequence[tuple[float, float]],
    *,
    labelledby: str,
    spend_label: str,
    remaining_label: str,
) -> SafeString:
    """The SVG: ``daily`` spend as bars (oldest first), ``remaining`` as a line of ``(fraction
    of its time axis, dollars)``, named by the element ``labelledby``."""
    second = LABEL + PLOT + GAP
    return format_html(
        '<svg class="credits-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}" focusable="false">'
        '<text class="credits-chart-label" x="0" y="13">{}</text>'
        '<line class="credits-chart-axis" x1="0" y1="{}" x2="{}" y2="{}"/>{}'
        '<text class="credits-chart-label" x="0" y="{}">{}</text>{}'
        "</svg>",
        WIDTH,
        HEIGHT,
        labelledby,
        spend_label,
        LABEL + PLOT,
        WIDTH,
        LABEL + PLOT,
        _bars(daily, LABEL),
        second + 13,
        remaining_label,
        _line(remaining, second + LABEL),
    )
