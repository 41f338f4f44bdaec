"""Line charts drawn on the server as SVG: axes with dates and values, a legend, a title and a
description for screen readers (the page puts the same figures in a table beside each). No
script and no chart library: the Content-Security-Policy allows none, and none is needed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from html import escape

W, H = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 40


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[date, Decimal | int]]
    css: str  # series-1 … series-4 (colours in style.css)


def _x(d: date, lo: date, hi: date) -> float:
    span = max((hi - lo).days, 1)
    return LEFT + (W - LEFT - RIGHT) * (d - lo).days / span


def _y(v: float, top: float) -> float:
    return TOP + (H - TOP - BOTTOM) * (1 - (v / top if top else 0))


def _nice_top(peak: float) -> float:
    """The smallest 4 × (1, 2, 2.5 or 5 × 10ⁿ) at or above the peak, so the four gridlines
    fall on round numbers."""
    if peak <= 0:
        return 4.0
    quarter = peak / 4
    power = 10 ** math.floor(math.log10(quarter))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= quarter)
    return float(step * 4)


def line_chart(
    title: str, description: str, series: list[Series], *, value_label: str, money: bool
) -> str:
    """The chart as an SVG element (safe to put in a page: every text is escaped)."""
    days = [p[0] for s in series for p in s.points]
    if not days:
        return ""
    lo, hi = min(days), max(days)
    top = _nice_top(max(float(p[1]) for s in series for p in s.points))
    chart_id = f"chart-{abs(hash(title)) % 10**8}"
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(description)}</desc>',
        *_axes(lo, hi, top, value_label, money),
    ]
    for n, s in enumerate(series):
        xy = [(_x(d, lo, hi), _y(float(v), top)) for d, v in s.points]
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        parts.append(f'<polyline class="line {s.css} dash-{n + 1}" fill="none" points="{pts}"/>')
        # Dots where points are few (a lone point draws no line) and on the latest one.
        dots = xy if len(xy) <= 31 else xy[-1:]
        parts += [f'<circle class="dot {s.css}" cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in dots]
    parts += _legend(series)
    parts.append("</svg>")
    return "".join(parts)


def _axes(lo: date, hi: date, top: float, value_label: str, money: bool) -> list[str]:
    out = [
        f'<line class="axis" x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}"/>',
        f'<text class="axis-label" x="{LEFT}" y="14" text-anchor="middle">'
        f"{escape(value_label)}</text>",
    ]
    for k in range(5):
        v = top * k / 4
        y = _y(v, top)
        shown = f"{v:,.0f}" if v == int(v) else f"{v:,.1f}"
        out.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{shown}</text>'
        )
    span = (hi - lo).days
    for k in range(6 if span >= 5 else max(span, 1) + 1):
        day = lo + (hi - lo) * k / (5 if span >= 5 else max(span, 1))
        x = _x(day, lo, hi)
        out.append(
            f'<text class="tick" x="{x:.1f}" y="{H - BOTTOM + 18}" text-anchor="middle">'
            f"{day.strftime('%m-%d')}</text>"
        )
    return out


def _legend(series: list[Series]) -> list[str]:
    out = []
    for n, s in enumerate(series):
        x = LEFT + 8 + n * 170
        out.append(
            f'<line class="line {s.css} dash-{n + 1}" x1="{x}" y1="{H - 12}" x2="{x + 22}" '
            f'y2="{H - 12}"/>'
        )
        out.append(f'<text class="legend" x="{x + 27}" y="{H - 9}">{escape(s.name)}</text>')
    return out


def as_day(value: datetime | date) -> date:
    from service.kit.clock import local_date

    return local_date(value) if isinstance(value, datetime) else value
