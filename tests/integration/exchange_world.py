"""The exchange of one TEE-M for a TEE-L over the API: the §12 order authorized for 90.00,
shipped and paid; the exchange submitted, its TEE-L routed, the TEE-M received back and the
TEE-L shipped. The exchange and money-flow tests start here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.outbox import Outbox
from openoms.services import returns
from openoms.services.inventory import InventoryLine, apply_inventory_import
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.service_shop import Shop, make_shop

MUG_INVOICE = 895  # MUG 8.00 − 0.65 + 1.60 (its group has no delivery charge)


def shipped_shop(api: Api, *, ship_mug: bool = True) -> Shop:
    """The §12 order, authorized for 90.00 (room for a dearer exchange), its TEE-M shipped
    and paid (and the MUG, unless `ship_mug` is False: the order stays open, so what is
    left of the authorization is not released); 5 TEE-L in stock at WH-LDN."""
    apply_inventory_import(
        api.db,
        Outbox(default_registry()),
        [InventoryLine(line=1, location="WH-LDN", sku="TEE-L", on_hand=5)],
        mode="delta",
    )
    shop = make_shop(api)
    shop.capture(payments=[{"gateway": "sandbox", "token": "tok_visa", "amount": "90.00"}])
    shop.drain()
    shop.ship("WH-LDN")
    if ship_mug:
        shop.ship("STORE-LDN")
    shop.drain()
    return shop


def exchange_body(shop: Shop, unit_price: str, tax: str, **extra: Any) -> dict[str, Any]:
    return {
        "return_items": [
            {"order_item_summary_id": shop.item_id("TEE-M"), "quantity": 1, "reason": "too small"}
        ],
        "new_items": [{"sku": "TEE-L", "quantity": 1, "unit_price": unit_price, "tax": tax}],
        "reason": "size exchange",
        "expected_location": "WH-LDN",
        **extra,
    }


def receive_return(shop: Shop, return_order_id: str) -> None:
    """The warehouse approves the RMA and receives the TEE-M back (restocked)."""
    outbox = Outbox(default_registry())
    with shop.api.db.transaction() as session:
        returns.approve_return_order(session, outbox, return_order_id)
        (line_id,) = session.scalars(
            select(m.ReturnOrderLineItem.id).where(
                m.ReturnOrderLineItem.return_order_id == return_order_id
            )
        ).all()
        returns.receive(session, outbox, return_order_id, [returns.ReceiptRequest(line_id, 1)])
    shop.drain()


def exchange(shop: Shop, unit_price: str, tax: str) -> dict[str, Any]:
    """Submit the exchange, route the TEE-L, receive the TEE-M, ship the TEE-L."""
    answer = shop.action("submit-exchange", exchange_body(shop, unit_price, tax))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    shop.drain()
    receive_return(shop, body["return_order_id"])
    shop.ship("WH-LDN")
    shop.drain()
    return body
