"""Hypothesis strategies shared by the unit tests."""

from __future__ import annotations

from hypothesis import strategies as st

from openoms.domain.quantities import ItemQuantities


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
