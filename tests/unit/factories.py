"""Keyword-only factories for domain values. Defaults build the DESIGN.md §12 example order.

Amounts are integer minor units (GBP pence) as the domain stores them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from openoms.domain.order import (
    Address,
    Adjustment,
    Customer,
    DeliveryGroup,
    DeliveryMethod,
    OrderDraft,
    OrderLine,
    PaymentMethod,
    PricedOrder,
    Recipient,
    price_order,
)
from openoms.domain.quantities import ItemQuantities
from openoms.domain.summary import ItemState

ORDERED_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def make_address(**overrides: Any) -> Address:
    fields: dict[str, Any] = {
        "line1": "1 Main St",
        "city": "London",
        "postal_code": "EC1A 1BB",
        "country": "GB",
        "lat": 51.52,
        "lon": -0.10,
    }
    return Address(**(fields | overrides))


def make_ship_group(**overrides: Any) -> DeliveryGroup:
    fields: dict[str, Any] = {
        "ref": "home",
        "method": DeliveryMethod.SHIP,
        "service": "standard",
        "recipient": Recipient(name="Ada Lovelace", address=make_address()),
        "charge": 499,
        "charge_tax": 100,
    }
    return DeliveryGroup(**(fields | overrides))


def make_pickup_group(**overrides: Any) -> DeliveryGroup:
    fields: dict[str, Any] = {
        "ref": "store",
        "method": DeliveryMethod.PICKUP,
        "pickup_location": "STORE-LDN",
    }
    return DeliveryGroup(**(fields | overrides))


def make_line(**overrides: Any) -> OrderLine:
    """TEE-M, 3 at 20.00 with tax 12.00 and a "3 for 2" line discount of -6.00."""
    fields: dict[str, Any] = {
        "sku": "TEE-M",
        "quantity": 3,
        "unit_price": 2000,
        "tax": 1200,
        "delivery_group": "home",
        "adjustments": (Adjustment(amount=-600, reason="3 for 2"),),
    }
    return OrderLine(**(fields | overrides))


def make_mug_line(**overrides: Any) -> OrderLine:
    fields: dict[str, Any] = {
        "sku": "MUG",
        "quantity": 1,
        "unit_price": 800,
        "tax": 160,
        "delivery_group": "store",
    }
    return OrderLine(**(fields | overrides))


def make_payment(**overrides: Any) -> PaymentMethod:
    fields: dict[str, Any] = {"gateway": "sandbox", "token": "tok_visa", "amount": 7659}
    return PaymentMethod(**(fields | overrides))


def make_draft(**overrides: Any) -> OrderDraft:
    """The DESIGN.md §12 order (grand total 76.59), with any field overridden."""
    fields: dict[str, Any] = {
        "channel": "web-uk",
        "external_reference": "WEB-10001",
        "currency": "GBP",
        "ordered_at": ORDERED_AT,
        "customer": Customer(name="Ada Lovelace", email="ada@example.com"),
        "delivery_groups": (make_ship_group(), make_pickup_group()),
        "lines": (make_line(), make_mug_line()),
        "adjustments": (Adjustment(amount=-500, reason="WELCOME5"),),
        "payments": (make_payment(),),
    }
    return OrderDraft(**(fields | overrides))


def make_priced(**overrides: Any) -> PricedOrder:
    return price_order(make_draft(**overrides))


def make_states(*, priced: PricedOrder | None = None) -> dict[str, ItemState]:
    """Item summaries of a freshly captured order, keyed by item key."""
    order = priced if priced is not None else make_priced()
    return {item.key: ItemState.from_priced(item) for item in order.items}


def make_quantities(**overrides: int) -> ItemQuantities:
    fields = {"ordered": 3} | overrides
    return ItemQuantities(**fields)
