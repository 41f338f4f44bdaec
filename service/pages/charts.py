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
NARROW = 340  # a phone's chart: drawn for its width, not a wide one scaled down or cut off
LEGEND_STEP = 150  # the width a legend entry takes


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[date, Decimal | int]]
    css: str  # series-1 … series-4 (colours in style.css)


@dataclass(frozen=True)
class Frame:
    """A chart's size: its width, and the height its legend's rows add below the plot."""

    width: int = W
    legend_rows: int = 1

    @property
    def height(self) -> int:
        return H + 18 * (self.legend_rows - 1)

    @property
    def plot_bottom(self) -> int:
        return H - BOTTOM


def _x(d: date, lo: date, hi: date, f: Frame) -> float:
    span = max((hi - lo).days, 1)
    return LEFT + (f.width - LEFT - RIGHT) * (d - lo).days / span


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
    """The chart as SVG (safe to put in a page: every text is escaped), twice: for a desktop
    and for a phone (the style sheet shows the one that fits the screen; the other is not
    displayed, so a screen reader reads one)."""
    return "".join(
        draw(title, description, series, value_label=value_label, money=money, width=width)
        for width in (W, NARROW)
    )


def draw(
    title: str,
    description: str,
    series: list[Series],
    *,
    value_label: str,
    money: bool,
    width: int = W,
) -> str:
    """One SVG chart drawn for `width` (NARROW: a phone's, fewer dates, the legend on more
    rows)."""
    days = [p[0] for s in series for p in s.points]
    if not days:
        return ""
    per_row = max((width - LEFT) // LEGEND_STEP, 1)
    f = Frame(width, -(-len(series) // per_row))
    lo, hi = min(days), max(days)
    top = _nice_top(max(float(p[1]) for s in series for p in s.points))
    chart_id = f"chart-{width}-{abs(hash(title)) % 10**8}"
    css = "chart" if width == W else "chart chart-narrow"
    parts = [
        f'<svg class="{css}" viewBox="0 0 {f.width} {f.height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(description)}</desc>',
        *_axes(lo, hi, top, value_label, money, f),
    ]
    for n, s in enumerate(series):
        xy = [(_x(d, lo, hi, f), _y(float(v), top)) for d, v in s.points]
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        parts.append(f'<polyline class="line {s.css} dash-{n + 1}" fill="none" points="{pts}"/>')
        # Dots where points are few (a lone point draws no line) and on the latest one.
        dots = xy if len(xy) <= 31 else xy[-1:]
        parts += [f'<circle class="dot {s.css}" cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in dots]
    parts += _legend(series, f, per_row)
    parts.append("</svg>")
    return "".join(parts)


def _axes(lo: date, hi: date, top: float, value_label: str, money: bool, f: Frame) -> list[str]:
    W = f.width  # the frame's width (the module's W is the desktop default)
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
    ticks = 5 if W >= 500 else 3  # dates that fit side by side
    for k in range(ticks + 1 if span >= ticks else max(span, 1) + 1):
        day = lo + (hi - lo) * k / (ticks if span >= ticks else max(span, 1))
        x = _x(day, lo, hi, f)
        out.append(
            f'<text class="tick" x="{x:.1f}" y="{H - BOTTOM + 18}" text-anchor="middle">'
            f"{day.strftime('%m-%d')}</text>"
        )
    return out


def _legend(series: list[Series], f: Frame, per_row: int) -> list[str]:
    out = []
    for n, s in enumerate(series):
        row, col = divmod(n, per_row)
        x, y = LEFT + 8 + col * LEGEND_STEP, H - 12 + 18 * row
        out.append(
            f'<line class="line {s.css} dash-{n + 1}" x1="{x}" y1="{y}" x2="{x + 22}" y2="{y}"/>'
        )
        out.append(f'<text class="legend" x="{x + 27}" y="{y + 3}">{escape(s.name)}</text>')
    return out


def as_day(value: datetime | date) -> date:
    from service.kit.clock import local_date

    return local_date(value) if isinstance(value, datetime) else value
