"""The dashboard's server-drawn bar charts (console/charts.py) and its ratios and ranks
(services/views/dashboard.py): round axes, bars scaled to them, labels thinned out, and
exact decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openoms.console.charts import HEIGHT, MAX_LABELS, bar_chart
from openoms.console.dashboard import duration
from openoms.services.views.dashboard import nearest_rank, ratio


@pytest.mark.parametrize(
    ("values", "ticks"),
    [
        ([2, 1], ["0", "1", "2", "3", "4"]),
        ([0], ["0", "1", "2", "3", "4"]),
        ([Decimal("206.50")], ["0", "60", "120", "180", "240"]),
        ([Decimal("21.99")], ["0", "6", "12", "18", "24"]),
        ([12_345], ["0", "4k", "8k", "12k", "16k"]),
        ([3_000_000], ["0", "800k", "1.6M", "2.4M", "3.2M"]),
        ([Decimal("0.30")], ["0", "0.08", "0.16", "0.24", "0.32"]),
    ],
)
def test_the_axis_is_four_round_steps(values: list[Decimal | int], ticks: list[str]) -> None:
    chart = bar_chart("t", "d", [(str(n), v) for n, v in enumerate(values)])
    assert [t.text for t in chart.ticks] == ticks
    scale = {"k": 1000, "M": 1_000_000}.get(ticks[-1][-1], 1)
    top = Decimal(ticks[-1].rstrip("kM")) * scale
    plot = chart.baseline - chart.ticks[-1].y
    for bar, value in zip(chart.bars, values, strict=True):
        assert bar.height == pytest.approx(float(Decimal(value) / top) * plot)
        assert bar.y + bar.height == pytest.approx(HEIGHT - 32)


def test_many_bars_keep_a_few_labels_and_their_values() -> None:
    points = [(f"{d:02d} Nov", d) for d in range(1, 31)]
    chart = bar_chart("Orders", "d", points, value_text=[f"{d} orders" for d in range(1, 31)])
    assert len(chart.bars) == 30
    assert len(chart.labels) <= MAX_LABELS
    assert chart.labels[0].text == "01 Nov"
    assert chart.bars[-1].value == "30 orders"
    assert all(b.width <= 48 for b in chart.bars)


def test_ratios_round_half_up_and_ranks_are_nearest() -> None:
    assert ratio(5, 4) == Decimal("1.25")
    assert ratio(2, 3) == Decimal("0.67")
    assert ratio(1, 8) == Decimal("0.13")  # 0.125 half up
    assert ratio(3, 0) is None
    assert [nearest_rank(50, n) for n in (1, 2, 3, 10)] == [1, 1, 2, 5]
    assert [nearest_rank(90, n) for n in (1, 2, 10, 11)] == [1, 2, 9, 10]


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (999_999, "0 s"),
        (45_000_000, "45 s"),
        (750_000_000, "12 min 30 s"),
        (4 * 3600 * 10**6 + 5 * 60 * 10**6, "4 h 05 min"),
        ((2 * 86_400 + 3 * 3600) * 10**6, "2 d 3 h"),
    ],
)
def test_durations_read_as_words(micros: int, text: str) -> None:
    assert duration(micros) == text
