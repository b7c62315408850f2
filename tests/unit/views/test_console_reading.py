"""What the console's pages make of the read models, without a database: the timeline
(newest first, who did it where the event says, the short facts), the payment standing of
an order in the list, and the search's dates and cursors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openoms.console.paging import SearchInvalid, day_start, decode_cursor, encode_cursor
from openoms.console.timeline import actor, facts, timeline
from openoms.services.views import payment_status


def event(n: int, name: str, payload: dict[str, object]) -> dict[str, object]:
    return {
        "id": f"ev_{n}",
        "name": name,
        "occurred_at": f"2026-12-07T10:0{n}:00Z",
        "payload": payload,
    }


def test_the_timeline_is_newest_first_with_who_and_short_facts() -> None:
    rows = timeline(
        [
            event(1, "order_summary.created", {"order_summary_id": "os_1", "channel": "web-uk"}),
            event(
                2,
                "fulfillment_order.shipped",
                {
                    "actor": {"kind": "user", "name": "Ann"},
                    "tracking_number": "TRK1",
                    "items": [1, 2],
                },
            ),
        ]
    )
    assert [(r["what"], r["who"], r["facts"]) for r in rows] == [
        ("fulfillment order: shipped", "Ann (user)", [("tracking number", "TRK1")]),
        ("order summary: created", None, [("channel", "web-uk")]),
    ]


@pytest.mark.parametrize(
    ("payload", "who"),
    [
        ({}, None),
        ({"actor": ""}, None),
        ({"requested_by": "service desk key"}, "service desk key"),
        ({"performed_by": {"email": "ann@example.com"}}, "ann@example.com"),
        ({"user": {"id": "usr_1", "type": "console"}}, "usr_1 (console)"),
        ({"actor": {"kind": "api_key"}}, None),  # nobody named
    ],
)
def test_who_did_it_is_what_the_event_records(payload: dict[str, object], who: str | None) -> None:
    assert actor(payload) == who


def test_facts_leave_out_ids_bulk_and_long_values_and_stop_at_six() -> None:
    payload: dict[str, object] = {
        "return_order_id": "ro_1",
        "lines": [],
        "note": "x" * 81,
        "nested": {"a": 1},
        **{f"k{n}": n for n in range(8)},
    }
    assert facts(payload) == [(f"k{n}", str(n)) for n in range(6)]


@pytest.mark.parametrize(
    ("authorized", "captured", "refunded", "status"),
    [
        (0, 0, 0, "unpaid"),
        (7659, 0, 0, "authorized"),
        (7659, 4000, 0, "partly captured"),
        (7659, 7659, 0, "captured"),
        (7659, 7659, 1000, "partly refunded"),
        (7659, 7659, 7659, "refunded"),
    ],
)
def test_the_payment_standing_of_an_order(
    authorized: int, captured: int, refunded: int, status: str
) -> None:
    assert payment_status(authorized, captured, refunded, 7659) == status


def test_search_dates_are_whole_utc_days() -> None:
    assert day_start("", "From") is None
    assert day_start("2026-11-20", "From") == datetime(2026, 11, 20, tzinfo=UTC)
    assert day_start("2026-11-20", "To", after=True) == datetime(2026, 11, 21, tzinfo=UTC)
    with pytest.raises(SearchInvalid) as refused:
        day_start("soon", "To")
    assert str(refused.value) == "To must be a date like 2026-11-20, not 'soon'."


def test_a_cursor_round_trips_and_a_foreign_one_is_refused() -> None:
    assert decode_cursor(encode_cursor("os_01ABC"), prefix="os_") == "os_01ABC"
    assert decode_cursor("", prefix="os_") is None
    for bad in (encode_cursor("fo_01ABC"), "!!", "\u00e9"):
        with pytest.raises(SearchInvalid):
            decode_cursor(bad, prefix="os_")
