"""Hypothesis strategies shared by the unit tests."""

from __future__ import annotations

from hypothesis import strategies as st

from openoms.domain.quantities import ItemQuantities
from openoms.domain.routing.batch import BatchGroup
from openoms.domain.routing.model import ShippingCost


@st.composite
def item_quantities(draw: st.DrawFn, *, ordered: int | None = None) -> ItemQuantities:
    """Any counters that satisfy the invariants of DESIGN.md §3, built outside in."""
    n = draw(st.integers(min_value=0, max_value=8)) if ordered is None else ordered
    canceled = draw(st.integers(min_value=0, max_value=n))
    allocated = draw(st.integers(min_value=0, max_value=n - canceled))
    fulfilled = draw(st.integers(min_value=0, max_value=allocated))
    return_initiated = draw(st.integers(min_value=0, max_value=fulfilled))
    returned = draw(st.integers(min_value=0, max_value=return_initiated))
    reshipped = draw(st.integers(min_value=0, max_value=fulfilled))
    return ItemQuantities(
        ordered=n,
        canceled=canceled,
        returned=returned,
        return_initiated=return_initiated,
        allocated=allocated,
        fulfilled=fulfilled,
        reshipped=reshipped,
    )


BATCH_LOCATIONS = ("L1", "L2", "L3")
BATCH_SKUS = ("A", "B", "C")


@st.composite
def batch_instances(
    draw: st.DrawFn, *, max_groups: int
) -> tuple[list[BatchGroup], dict[tuple[str, str], int], dict[str, ShippingCost]]:
    """Up to `max_groups` waiting groups over three locations and three SKUs, each placed in
    part or whole from what the pool still has (in a drawn order), within a drawn limit of
    locations; with the stock and the shipping rates they share."""
    stock = {(loc, sku): draw(st.integers(0, 3)) for loc in BATCH_LOCATIONS for sku in BATCH_SKUS}
    rates = {
        loc: ShippingCost(draw(st.integers(100, 900)), draw(st.integers(0, 50)))
        for loc in BATCH_LOCATIONS
    }
    left = dict(stock)
    groups = []
    for n in range(draw(st.integers(1, max_groups))):
        skus = draw(st.sets(st.sampled_from(BATCH_SKUS), min_size=1))
        need = {sku: draw(st.integers(1, 2)) for sku in skus}
        current: dict[tuple[str, str], int] = {}
        for sku, q in need.items():
            for loc in draw(st.permutations(BATCH_LOCATIONS)):
                take = min(q, left[loc, sku])
                if take and draw(st.booleans()):
                    current[loc, sku] = take
                    left[loc, sku] -= take
                    q -= take
        limit = max(draw(st.integers(1, 3)), len({loc for loc, _ in current}))
        groups.append(BatchGroup(f"g{n}", need, current, rates, limit))
    return groups, stock, rates
