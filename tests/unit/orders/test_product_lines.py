"""The item lines a service action names (change_orders.product_lines): one check for
cancel, return, reship and the exchange's return lines, each with its own error classes."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from openoms.adapters.db import models as m
from openoms.domain.errors import (
    DeliveryChargeCancelInvalid,
    DomainError,
    OrderItemSummaryUnknown,
    QuantityInvalid,
    ReshipNotAllowed,
    ReturnItemNotReturnable,
    ValidationFailed,
)
from openoms.services.orders import product_lines
from openoms.services.returns import check_lines


class Line(NamedTuple):
    order_item_summary_id: str
    quantity: int


def _item(item_id: str, sku: str, type: str = "product") -> m.OrderItemSummary:
    return m.OrderItemSummary(id=item_id, sku=sku, type=type)


ITEMS = {
    "ois_tee": _item("ois_tee", "TEE-M"),
    "ois_mug": _item("ois_mug", "MUG"),
    "ois_ship": _item("ois_ship", "DELIVERY", "delivery_charge"),
}


def _cancel(lines: list[Line]) -> dict[str, int]:
    return product_lines(
        ITEMS,
        lines,
        action="cancel",
        not_product=DeliveryChargeCancelInvalid,
        instead="cancel the group's products with refund_shipping true to give it back",
    )


def test_units_per_item_duplicates_summed_in_the_order_first_named() -> None:
    lines = [Line("ois_mug", 1), Line("ois_tee", 2), Line("ois_mug", 3)]
    units = _cancel(lines)
    assert list(units.items()) == [("ois_mug", 4), ("ois_tee", 2)]


@pytest.mark.parametrize(
    ("lines", "error", "code", "field", "detail"),
    [
        (
            [Line("ois_tee", 1), Line("nope", 1)],
            OrderItemSummaryUnknown,
            "order_item_summary_unknown",
            "items[1].order_item_summary_id",
            "item 'nope' is not on this order summary",
        ),
        (
            [Line("ois_ship", 1)],
            DeliveryChargeCancelInvalid,
            "delivery_charge_cancel_invalid",
            "items[0].order_item_summary_id",
            "item ois_ship (DELIVERY) is the delivery charge of its group: cancel the group's "
            "products with refund_shipping true to give it back",
        ),
        (
            [Line("ois_tee", 0)],
            QuantityInvalid,
            "quantity_invalid",
            "items[0].quantity",
            "quantity to cancel of TEE-M must be a positive whole number, got 0",
        ),
        ([], ValidationFailed, "validation_failed", "items", "name at least one item to cancel"),
    ],
)
def test_cancel_refusals(
    lines: list[Line], error: type[DomainError], code: str, field: str, detail: str
) -> None:
    with pytest.raises(error) as caught:
        _cancel(lines)
    assert (caught.value.code, caught.value.field, caught.value.detail) == (code, field, detail)


def test_reship_refuses_a_delivery_charge_with_its_own_error() -> None:
    with pytest.raises(ReshipNotAllowed) as caught:
        product_lines(
            ITEMS,
            [Line("ois_ship", 1)],
            action="reship",
            not_product=ReshipNotAllowed,
            instead="only products are sent again",
        )
    assert (caught.value.code, caught.value.status, caught.value.field) == (
        "reship_not_allowed",
        409,
        "items[0].order_item_summary_id",
    )


@pytest.mark.parametrize(
    ("lines", "prefix", "code", "field"),
    [
        (
            [Line("nope", 1)],
            "items",
            "return_item_not_returnable",
            "items[0].order_item_summary_id",
        ),
        (
            [Line("ois_ship", 1)],
            "items",
            "return_item_not_returnable",
            "items[0].order_item_summary_id",
        ),
        (
            [Line("ois_tee", 1), Line("ois_tee", 1)],
            "items",
            "validation_failed",
            "items[1].order_item_summary_id",
        ),
        ([Line("ois_tee", -1)], "items", "quantity_invalid", "items[0].quantity"),
        # An exchange's return lines are its payload's `return_items`.
        ([Line("ois_mug", 0)], "return_items", "quantity_invalid", "return_items[0].quantity"),
    ],
)
def test_return_lines_name_each_item_once(
    lines: list[Line], prefix: str, code: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_lines(lines, ITEMS, field_prefix=prefix)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert isinstance(caught.value, ReturnItemNotReturnable) == (
        code == "return_item_not_returnable"
    )


def test_return_lines_answer_units_per_item() -> None:
    assert check_lines([Line("ois_tee", 2), Line("ois_mug", 1)], ITEMS) == {
        "ois_tee": 2,
        "ois_mug": 1,
    }
