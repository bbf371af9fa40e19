"""Charts drawn on the server as inline SVG: no JavaScript, sharp in print, readable by a screen reader.

Every chart is an `<svg role="img">` named by its `<title>` and described by a `<desc>` that states the
figures in words; axes, legends and values are real `<text>` in the page's font. The colours keep 3:1
against white and are told apart by a legend with the series' names, never by colour alone (grouped bars
are in legend order, lines carry a marker shape per series).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# blue, orange, green, purple, red, teal: distinct for common colour blindness, each ≥ 3:1 on white
PALETTE = ("#1f5fa8", "#b35900", "#2e7d32", "#6a3d9a", "#c62828", "#00796b")
_ids = itertools.count(1)


@dataclass(frozen=True)
class Layout:
    """One drawing of a chart: its width and text size in viewBox units. The SVG is scaled to the width of
    its box, so text drawn at `font` shows at font × box width / `width` pixels."""

    name: str  # the CSS class chart-<name>: app.css shows one drawing per screen width
    width: int
    font: int


# from 720 px screens up (and in print): the box is 640–920 px wide, text 14–20 px
WIDE = Layout("wide", 640, 14)
# phones: on a 390-px screen the box is about 334 px wide, so text shows at ≥ 15 px
NARROW = Layout("narrow", 340, 16)
LAYOUTS = (WIDE, NARROW)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def text_width(text: str, font: float) -> float:
    """About how wide `text` is drawn: a CJK character a full em, a digit or Latin letter 0.6 em."""
    return sum(font if ord(ch) >= 0x2E80 else font * 0.6 for ch in text)


def _fit(text: str, font: float, room: float) -> str:
    if text_width(text, font) <= room:
        return text
    while text and text_width(text + "…", font) > room:
        text = text[:-1]
    return text + "…"


def _ticks(value: float, percent: bool = False) -> list[float]:
    """The axis' gridlines from 0 up to the first at or above `value`: a round step (1, 2, 2.5 or 5 times a
    power of ten, at least 1 for counts) and at most five of them above 0; shares (0–1) in quarters."""
    if percent and value <= 1:
        return [step / 4 for step in range(5)]
    value = max(value, 1)
    power = 10.0 ** (math.floor(math.log10(value)) - 1)
    while True:
        for multiple in (1, 2, 2.5, 5):
            step = multiple * power
            if step * 5 >= value and (percent or step >= 1):
                return [i * step for i in range(math.ceil(value / step - 1e-9) + 1)]
        power *= 10


def _number(value: float, percent: bool = False) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:,.0f}" if abs(value) >= 1 or value == 0 else f"{value:.1f}"


def _open(title: str, desc: str, height: float, layout: Layout) -> list[str]:
    n = next(_ids)
    t, d = f"chart-t{n}", f"chart-d{n}"
    return [
        f'<svg class="chart chart-{layout.name}" role="img" aria-labelledby="{t} {d}" '
        f'viewBox="0 0 {layout.width} {height:.0f}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="inherit" font-size="{layout.font}">',
        f'<title id="{t}">{escape(title)}</title>',
        f'<desc id="{d}">{escape(desc)}</desc>',
    ]


def _legend(series: Sequence[Series], top: float, layout: Layout) -> tuple[list[str], float]:
    """A swatch and the name of each series, in rows as wide as the chart; (the elements, their height)."""
    f = layout.font
    line = f * 1.6
    out, x, y = [], float(f), top
    for index, s in enumerate(series):
        name = _fit(s.name, f, layout.width - 3 * f)
        advance = f * 1.5 + text_width(name, f) + f
        if x > f and x + advance > layout.width:
            x, y = float(f), y + line
        colour = PALETTE[index % len(PALETTE)]
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{f}" height="{f}" fill="{colour}"/>')
        out.append(f'<text x="{x + f * 1.4:.1f}" y="{y + f * 0.9:.1f}" fill="#222">{escape(name)}</text>')
        x += advance
    return out, (y - top + line) if series else 0


def _axis(
    ticks: list[float], plot: tuple[float, float, float, float], percent: bool, layout: Layout
) -> list[str]:
    left, upper, right, lower = plot
    out = []
    for value in ticks:
        y = lower - (lower - upper) * value / ticks[-1]
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(
            f'<text x="{left - 6}" y="{y + layout.font * 0.35:.1f}" text-anchor="end" fill="#444">'
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


@dataclass(frozen=True)
class _Frame:
    """The plot area of a chart over categories, its axis, category labels and legend."""

    layout: Layout
    plot: tuple[float, float, float, float]  # left, upper, right, lower
    ticks: list[float]
    every: int  # label every n-th category, counted back from the last
    legend: list[str]
    height: float

    @property
    def top(self) -> float:
        return self.ticks[-1]


def _frame(
    categories: Sequence[str],
    series: Sequence[Series],
    layout: Layout,
    *,
    percent: bool,
    points: bool,
    every: int,
) -> _Frame:
    f = layout.font
    peak = max((v for s in series for v in s.values), default=0)
    ticks = _ticks(peak, percent)
    left = 10 + max(text_width(_number(tick, percent), f) for tick in ticks)
    right = layout.width - (f * 1.5 if points else 10)  # room for the last label under a point
    lower = 20 + f * 15
    spacing = (right - left) / max(len(categories) - (1 if points else 0), 1)
    widest = max((text_width(c, f) for c in categories), default=0)
    every = max(every, math.ceil((widest + f * 0.6) / spacing)) if spacing else every
    legend, legend_height = _legend(series, lower + f * 2.4, layout)
    return _Frame(layout, (left, 20, right, lower), ticks, every, legend, lower + f * 2.4 + legend_height)


def _category_labels(frame: _Frame, categories: Sequence[str], x_of: Callable[[int], float]) -> list[str]:
    lower = frame.plot[3]
    last = len(categories) - 1
    return [
        f'<text x="{x_of(ci):.1f}" y="{lower + frame.layout.font * 1.3:.1f}" text-anchor="middle" '
        f'fill="#222">{escape(category)}</text>'
        for ci, category in enumerate(categories)
        if (last - ci) % frame.every == 0
    ]


def _drawings(draw: Callable[[Layout], list[str]]) -> Markup:
    """The chart drawn once per layout; app.css shows the one that fits the screen."""
    return Markup("".join("".join(draw(layout)) for layout in LAYOUTS))


def bar_chart(title: str, categories: Sequence[str], series: Sequence[Series], *, unit: str = "分") -> Markup:
    """Grouped bars: one group per category (a month), one bar per series."""
    desc = f"单位：{unit}。" + describe(categories, series)

    def draw(layout: Layout) -> list[str]:
        frame = _frame(categories, series, layout, percent=False, points=False, every=1)
        left, upper, right, lower = frame.plot
        out = [*_open(title, desc, frame.height, layout), *_axis(frame.ticks, frame.plot, False, layout)]
        group = (right - left) / max(len(categories), 1)
        bar = min(28.0, (group - 4) / max(len(series), 1))
        for ci, category in enumerate(categories):
            x0 = left + ci * group + (group - bar * len(series)) / 2
            for si, s in enumerate(series):
                value = s.values[ci]
                h = (lower - upper) * value / frame.top if frame.top else 0
                out.append(
                    f'<rect x="{x0 + si * bar:.1f}" y="{lower - h:.1f}" width="{bar - 1:.1f}" '
                    f'height="{h:.1f}" fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(category)} '
                    f"{escape(s.name)} {_number(value)}{escape(unit)}</title></rect>"
                )
        out += _category_labels(frame, categories, lambda ci: left + ci * group + group / 2)
        return [*out, *frame.legend, "</svg>"]

    return _drawings(draw)


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
    `every` labels at most every n-th category on the axis (all are in the description)."""
    desc = (f"单位：{unit}。" if unit else "") + describe(categories, series, percent)

    def draw(layout: Layout) -> list[str]:
        frame = _frame(categories, series, layout, percent=percent, points=True, every=every)
        left, upper, right, lower = frame.plot
        out = [*_open(title, desc, frame.height, layout), *_axis(frame.ticks, frame.plot, percent, layout)]
        step = (right - left) / max(len(categories) - 1, 1)
        out += _category_labels(frame, categories, lambda ci: left + ci * step)
        for si, s in enumerate(series):
            colour = PALETTE[si % len(PALETTE)]
            points = [
                (left + i * step, lower - (lower - upper) * (v / frame.top if frame.top else 0))
                for i, v in enumerate(s.values)
            ]
            if len(points) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
            if len(points) <= 40:
                out += [_marker(_MARKERS[si % len(_MARKERS)], x, y, colour) for x, y in points]
        return [*out, *frame.legend, "</svg>"]

    return _drawings(draw)


def hbar_chart(title: str, rows: Sequence[tuple[str, float]], *, unit: str = "次") -> Markup:
    """Horizontal bars, one per labelled row (a rule), the value at the end of each bar: the label beside
    the bar when the chart is wide, above it when it is narrow."""
    desc = f"单位：{unit}。" + "；".join(f"{label} {_number(v)}" for label, v in rows) + "。"
    top = _ticks(max((abs(v) for _, v in rows), default=0))[-1]

    def draw(layout: Layout) -> list[str]:
        f = layout.font
        beside = layout is WIDE
        label_width = f * 14 if beside else 0
        value_width = max((text_width(f"{_number(v)}{unit}", f) for _, v in rows), default=0)
        span = layout.width - label_width - value_width - 20
        row_height = f * 2.1 if beside else f * 3.2
        out = _open(title, desc, 20 + row_height * max(len(rows), 1), layout)
        for index, (label, value) in enumerate(rows):
            y = 10 + index * row_height
            bar_top = y + f * 0.3 if beside else y + f * 1.5
            w = span * abs(value) / top if top else 0
            shown = _fit(label, f, (label_width - 8) if beside else layout.width - 8)
            x = label_width - 8 if beside else 0
            anchor = "end" if beside else "start"
            out.append(
                f'<text x="{x}" y="{y + f * 1.35:.1f}" text-anchor="{anchor}" fill="#222">'
                f"{escape(shown)}</text>"
            )
            out.append(
                f'<rect x="{label_width}" y="{bar_top:.1f}" width="{w:.1f}" height="{f * 1.4:.1f}" '
                f'fill="{PALETTE[0]}"/>'
            )
            out.append(
                f'<text x="{label_width + w + 6:.1f}" y="{bar_top + f * 1.05:.1f}" fill="#222">'
                f"{_number(value)}{escape(unit)}</text>"
            )
        if not rows:
            out.append(
                f'<text x="{layout.width / 2}" y="30" text-anchor="middle" fill="#444">暂无数据</text>'
            )
        return [*out, "</svg>"]

    return _drawings(draw)
