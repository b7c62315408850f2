"""Public ids sort in the order they were made, within a millisecond too."""

from __future__ import annotations

from openoms.adapters.db.ids import new_id


def test_ids_made_in_a_row_are_strictly_increasing() -> None:
    # Thousands of ids fall in a few milliseconds: random parts alone would misorder some.
    ids = [new_id("pay") for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("pay_") and len(i) == 30 for i in ids)
