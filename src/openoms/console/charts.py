"""Bar charts drawn on the server as SVG geometry (templates/_bar_chart.html draws it): no
script, nothing fetched, readable without colour (each bar's value is its <title>, and every
chart has a table of the same figures beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

WIDTH = 560
HEIGHT = 240
LEFT = 56  # room for the value axis's labels
BOTTOM = 32  # room for the category labels
TOP = 12
MAX_LABELS = 8  # category labels shown, evenly spaced, whatever the number of bars
MAX_BAR = 48  # a bar's widest, when there are few
STEPS = tuple(Decimal(f) for f in ("1", "1.5", "2", "2.5", "3", "4", "5", "6", "8"))
WHOLE_STEPS = tuple(Decimal(f) for f in ("1", "2", "3", "4", "5", "6", "8"))


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class BarChart:
    """What the template draws: bars, value-axis ticks and category labels, in a viewBox of
    WIDTH × HEIGHT."""

    title: str
    description: str
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[Label]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: float = HEIGHT - BOTTOM


def bar_chart(
    title: str,
    description: str,
    points: Sequence[tuple[str, Decimal | int]],
    *,
    value_text: Sequence[str] | None = None,
) -> BarChart:
    """Bars for (label, value) `points` (values ≥ 0) on an axis of four round steps (whole
    steps for whole values); `value_text` gives each bar's value as words (default: the
    value)."""
    texts = list(value_text) if value_text is not None else [str(v) for _, v in points]
    values = [Decimal(v) for _, v in points]
    whole = all(v == v.to_integral_value() for v in values)
    top = 4 * _step(max(values, default=Decimal(0)) / 4, whole=whole)
    top = top or Decimal(4)  # nothing to show: an axis of 0 to 4 all the same
    plot_width = WIDTH - LEFT - 8
    plot_height = HEIGHT - BOTTOM - TOP
    step = plot_width / max(len(points), 1)
    gap = min(step * 0.2, 6)
    bars = []
    width = max(min(step - gap, MAX_BAR), 1)
    for n, ((label, value), text) in enumerate(zip(points, texts, strict=True)):
        height = float(Decimal(value) / top) * plot_height
        x = LEFT + n * step + (step - width) / 2
        bars.append(Bar(x, HEIGHT - BOTTOM - height, width, height, label, text))
    ticks = [Tick(HEIGHT - BOTTOM - plot_height * k / 4, _short(top * k / 4)) for k in range(5)]
    every = max(1, -(-len(points) // MAX_LABELS))
    labels = [
        Label(LEFT + n * step + step / 2, label)
        for n, (label, _) in enumerate(points)
        if n % every == 0
    ]
    return BarChart(title, description, bars, ticks, labels)


def _step(value: Decimal, *, whole: bool) -> Decimal:
    """The smallest round step at or above `value`: 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 ×
    10ⁿ (whole values: 1, 2, 3, 4, 5, 6 or 8 × 10ⁿ, at least 1); 0 stays 0."""
    if value <= 0:
        return Decimal(0)
    if whole and value <= 1:
        return Decimal(1)
    scale = Decimal(1)
    while scale * 10 <= value:
        scale *= 10
    while scale > value:
        scale /= 10
    factors = WHOLE_STEPS if whole else STEPS
    for factor in factors:
        if scale * factor >= value:
            return scale * factor
    return scale * 10


def _short(value: Decimal) -> str:
    """An axis label: whole numbers plainly, thousands as k, millions as M."""
    for size, suffix in ((Decimal(1_000_000), "M"), (Decimal(1000), "k")):
        if value >= size:
            return f"{(value / size).normalize():f}{suffix}"
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value.normalize():f}"
