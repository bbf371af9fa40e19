"""Charts drawn on the server as inline SVG: no JavaScript, sharp in print, readable by a screen reader.

Every chart is an `<svg role="img">` named by its `<title>` and described by a `<desc>` that states the
figures in words; axes, legends and values are real `<text>` in the page's font. The colours keep 3:1
against white and are told apart by a legend with the series' names, never by colour alone (grouped bars
are in legend order, lines carry a marker shape per series).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# blue, orange, green, purple, red, teal: distinct for common colour blindness, each ≥ 3:1 on white
PALETTE = ("#1f5fa8", "#b35900", "#2e7d32", "#6a3d9a", "#c62828", "#00796b")
WIDTH = 640
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def _nice_top(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _number(value: float, percent: bool = False) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:,.0f}" if abs(value) >= 1 or value == 0 else f"{value:.1f}"


def _open(title: str, desc: str, height: int) -> tuple[list[str], str]:
    n = next(_ids)
    t, d = f"chart-t{n}", f"chart-d{n}"
    head = [
        f'<svg class="chart" role="img" aria-labelledby="{t} {d}" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="inherit" font-size="14">',
        f'<title id="{t}">{escape(title)}</title>',
        f'<desc id="{d}">{escape(desc)}</desc>',
    ]
    return head, t


def _legend(series: Sequence[Series], y: int) -> list[str]:
    out, x = [], 60
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{y - 11}" width="14" height="14" fill="{colour}"/>')
        out.append(f'<text x="{x + 20}" y="{y + 1}" fill="#222">{escape(s.name)}</text>')
        x += 32 + 15 * len(s.name)
    return out


def _axis(top: float, plot: tuple[int, int, int, int], percent: bool) -> list[str]:
    left, upper, right, lower = plot
    out = []
    for step in range(5):
        value = top * step / 4
        y = lower - (lower - upper) * step / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(
            f'<text x="{left - 6}" y="{y + 5:.1f}" text-anchor="end" fill="#444">'
            f"{_number(value, percent)}</text>"
        )
    out.append(f'<line x1="{left}" y1="{lower}" x2="{right}" y2="{lower}" stroke="#666"/>')
    return out


def describe(categories: Sequence[str], series: Sequence[Series], percent: bool = False) -> str:
    """The figures in words, for the `<desc>`: each series' values by category."""
    parts = []
    for s in series:
        values = "，".join(f"{c} {_number(v, percent)}" for c, v in zip(categories, s.values, strict=True))
        parts.append(f"{s.name}：{values}")
    return "；".join(parts) + "。"


def bar_chart(title: str, categories: Sequence[str], series: Sequence[Series], *, unit: str = "分") -> Markup:
    """Grouped bars: one group per category (a month), one bar per series, the value above each bar when
    there is room."""
    height = 300
    plot = (60, 20, WIDTH - 10, height - 70)
    left, upper, right, lower = plot
    top = _nice_top(max((v for s in series for v in s.values), default=0))
    head, _ = _open(title, f"单位：{unit}。" + describe(categories, series), height)
    out = [*head, *_axis(top, plot, False)]
    group = (right - left) / max(len(categories), 1)
    bar = min(28.0, (group - 6) / max(len(series), 1))
    for ci, category in enumerate(categories):
        x0 = left + ci * group + (group - bar * len(series)) / 2
        for si, s in enumerate(series):
            value = s.values[ci]
            h = (lower - upper) * value / top if top else 0
            x = x0 + si * bar
            out.append(
                f'<rect x="{x:.1f}" y="{lower - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(category)} {escape(s.name)} '
                f"{_number(value)}{escape(unit)}</title></rect>"
            )
        out.append(
            f'<text x="{left + ci * group + group / 2:.1f}" y="{lower + 18}" text-anchor="middle" '
            f'fill="#222">{escape(category)}</text>'
        )
    out += _legend(series, height - 20)
    out.append("</svg>")
    return Markup("".join(out))


_MARKERS = ("circle", "square", "diamond", "triangle")


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if kind == "diamond":
        return (
            f'<path d="M{x:.1f} {y - 5:.1f}L{x + 5:.1f} {y:.1f}L{x:.1f} {y + 5:.1f}L{x - 5:.1f} {y:.1f}Z" '
            f'fill="{colour}"/>'
        )
    return (
        f'<path d="M{x:.1f} {y - 5:.1f}L{x + 5:.1f} {y + 4:.1f}L{x - 5:.1f} {y + 4:.1f}Z" fill="{colour}"/>'
    )


def line_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    percent: bool = False,
    unit: str = "",
    every: int = 1,
) -> Markup:
    """Lines over categories (months, days), a marker per point; `percent` reads values as shares 0–1;
    `every` labels every n-th category on the axis (all are in the description)."""
    height = 280
    plot = (72, 20, WIDTH - 28, height - 70)
    left, upper, right, lower = plot
    peak = max((v for s in series for v in s.values), default=0)
    top = 1.0 if percent and peak <= 1 else _nice_top(peak)
    desc = (f"单位：{unit}。" if unit else "") + describe(categories, series, percent)
    head, _ = _open(title, desc, height)
    out = [*head, *_axis(top, plot, percent)]
    step = (right - left) / max(len(categories) - 1, 1)
    for ci, category in enumerate(categories):
        if ci % every == 0 or ci == len(categories) - 1:
            out.append(
                f'<text x="{left + ci * step:.1f}" y="{lower + 18}" text-anchor="middle" '
                f'fill="#222">{escape(category)}</text>'
            )
    for si, s in enumerate(series):
        colour = PALETTE[si % len(PALETTE)]
        points = [
            (left + i * step, lower - (lower - upper) * (v / top if top else 0))
            for i, v in enumerate(s.values)
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        if len(points) <= 40:
            out += [_marker(_MARKERS[si % len(_MARKERS)], x, y, colour) for x, y in points]
    out += _legend(series, height - 20)
    out.append("</svg>")
    return Markup("".join(out))


def hbar_chart(title: str, rows: Sequence[tuple[str, float]], *, unit: str = "次") -> Markup:
    """Horizontal bars, one per labelled row (a rule), the value at the end of each bar."""
    row_height = 30
    height = 20 + row_height * max(len(rows), 1)
    label_width = 200
    span = WIDTH - label_width - 70
    top = _nice_top(max((abs(v) for _, v in rows), default=0))
    desc = f"单位：{unit}。" + "；".join(f"{label} {_number(v)}" for label, v in rows) + "。"
    head, _ = _open(title, desc, height)
    out = list(head)
    for index, (label, value) in enumerate(rows):
        y = 10 + index * row_height
        w = span * abs(value) / top if top else 0
        shown = label if len(label) <= 13 else label[:12] + "…"
        out.append(
            f'<text x="{label_width - 8}" y="{y + 19}" text-anchor="end" fill="#222">{escape(shown)}</text>'
        )
        out.append(
            f'<rect x="{label_width}" y="{y + 4}" width="{w:.1f}" height="{row_height - 10}" '
            f'fill="{PALETTE[0]}"/>'
        )
        out.append(
            f'<text x="{label_width + w + 6:.1f}" y="{y + 19}" fill="#222">'
            f"{_number(value)}{escape(unit)}</text>"
        )
    if not rows:
        out.append(f'<text x="{WIDTH / 2}" y="30" text-anchor="middle" fill="#444">暂无数据</text>')
    out.append("</svg>")
    return Markup("".join(out))
