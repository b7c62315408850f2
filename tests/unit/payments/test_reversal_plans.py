"""The pure parts of releasing unused authorizations and of agent refund keys."""

from __future__ import annotations

from openoms.domain.payments import (
    ItemProgress,
    agent_refund_key,
    order_settled,
    plan_reversals,
    reversal_key,
)

SHIPPED = ItemProgress(ordered=3, canceled=0, allocated=3, fulfilled=3)
CANCELED = ItemProgress(ordered=2, canceled=2, allocated=0, fulfilled=0)
PART = ItemProgress(ordered=3, canceled=1, allocated=2, fulfilled=2)


def test_an_item_is_done_when_nothing_is_left_to_ship() -> None:
    assert [i.done for i in (SHIPPED, CANCELED, PART)] == [True, True, True]
    assert not ItemProgress(3, 0, 3, 2).done  # allocated, one not shipped
    assert not ItemProgress(3, 0, 2, 2).done  # one still available to fulfil
    assert not ItemProgress(3, 1, 1, 1).done


def test_order_settled_needs_every_item_done_every_shipment_invoiced_and_paid() -> None:
    assert order_settled([SHIPPED, CANCELED], [True, True], 0)
    assert order_settled([CANCELED], [], 0)  # canceled whole: nothing will be captured
    assert not order_settled([SHIPPED, ItemProgress(1, 0, 1, 0)], [True], 0)
    assert not order_settled([SHIPPED], [True, False], 0)
    assert not order_settled([SHIPPED], [True], 1)  # shipped but not invoiced yet


def test_plan_reversals_takes_what_is_left_within_the_available() -> None:
    assert plan_reversals([("a", 1701)], 1701) == (("a", 1701),)
    assert plan_reversals([("a", 500), ("b", 700)], 1000) == (("a", 500), ("b", 500))
    assert plan_reversals([("a", 0), ("b", -5), ("c", 300)], 1000) == (("c", 300),)
    assert plan_reversals([("a", 500)], 0) == ()
    assert plan_reversals([], 100) == ()


def test_keys() -> None:
    assert agent_refund_key("pay_1", 2) == "refund:agent:pay_1:2"
    assert reversal_key("pa_1", 1) == "reverse:pa_1:1"
