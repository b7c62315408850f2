"""Bar charts drawn on the server as SVG geometry (templates/_bar_chart.html draws it): no
script, nothing fetched, readable without colour (each bar's value is its <title>, and every
chart has a table of the same figures beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

WIDTH = 720
HEIGHT = 240
LEFT = 64  # room for the value axis's labels
BOTTOM = 36  # room for the category labels
TOP = 12
MAX_LABELS = 12  # category labels shown, evenly spaced, whatever the number of bars


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
    """Bars for (label, value) `points` (values ≥ 0), scaled to a round maximum; `value_text`
    gives each bar's value as words (default: the value)."""
    texts = list(value_text) if value_text is not None else [str(v) for _, v in points]
    top = _round_up(max((Decimal(v) for _, v in points), default=Decimal(0)))
    plot_width = WIDTH - LEFT - 8
    plot_height = HEIGHT - BOTTOM - TOP
    step = plot_width / max(len(points), 1)
    gap = min(step * 0.2, 6)
    bars = []
    for n, ((label, value), text) in enumerate(zip(points, texts, strict=True)):
        height = float(Decimal(value) / top) * plot_height if top else 0.0
        x = LEFT + n * step + gap / 2
        bars.append(Bar(x, HEIGHT - BOTTOM - height, max(step - gap, 1), height, label, text))
    ticks = [Tick(HEIGHT - BOTTOM - plot_height * k / 4, _short(top * k / 4)) for k in range(5)]
    every = max(1, -(-len(points) // MAX_LABELS))
    labels = [
        Label(LEFT + n * step + step / 2, label)
        for n, (label, _) in enumerate(points)
        if n % every == 0
    ]
    return BarChart(title, description, bars, ticks, labels)


def _round_up(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `value` (0 stays 0)."""
    if value <= 0:
        return Decimal(0)
    scale = Decimal(1)
    while scale * 10 <= value:
        scale *= 10
    while scale > value:
        scale /= 10
    for factor in (1, 2, Decimal("2.5"), 5, 10):
        if scale * factor >= value:
            return scale * factor
    return scale * 10  # pragma: no cover - the loop above always answers


def _short(value: Decimal) -> str:
    """An axis label: whole numbers plainly, thousands as k, millions as M."""
    for size, suffix in ((Decimal(1_000_000), "M"), (Decimal(1000), "k")):
        if value >= size:
            return f"{(value / size).normalize():f}{suffix}"
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value.normalize():f}"
