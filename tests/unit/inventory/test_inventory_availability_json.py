"""The get-availability body written directly as JSON is the same document as `as_dict()`."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.inventory import Availability
from openoms.services.inventory import AvailabilityAnswer

refs = st.text(min_size=1, max_size=12)  # quotes, backslashes, control and non-ASCII characters
figures = st.builds(Availability, *[st.integers(-(2**40), 2**40)] * 5)


@st.composite
def answers(draw: st.DrawFn) -> AvailabilityAnswer:
    skus = draw(st.lists(refs, max_size=4, unique=True))
    places = st.lists(st.tuples(refs, st.lists(figures, min_size=len(skus), max_size=len(skus))))
    return AvailabilityAnswer(skus, draw(places), draw(places))


@given(answers())
def test_to_json_is_as_dict_encoded(answer: AvailabilityAnswer) -> None:
    assert json.loads(answer.to_json()) == answer.as_dict()


def test_an_answer_reads_as_the_contract_says() -> None:
    answer = AvailabilityAnswer(
        ["TEE-M"],
        [("WH-1", [Availability(10, 2, 1, 7, 12)])],
        [("online", [Availability(0, 0, 0, 0, 0)])],
    )
    assert json.loads(answer.to_json()) == {
        "locations": [
            {
                "location": "WH-1",
                "inventory_records": [
                    {
                        "sku": "TEE-M",
                        "on_hand": 10,
                        "reserved": 2,
                        "safety_stock": 1,
                        "available_to_fulfill": 7,
                        "available_to_order": 12,
                    }
                ],
            }
        ],
        "location_groups": [
            {
                "location_group": "online",
                "inventory_records": [
                    {
                        "sku": "TEE-M",
                        "on_hand": 0,
                        "reserved": 0,
                        "safety_stock": 0,
                        "available_to_fulfill": 0,
                        "available_to_order": 0,
                    }
                ],
            }
        ],
    }
