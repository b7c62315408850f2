"""A small shop with something of everything, for the console's dashboard and its crawl:
orders on three channels and two currencies, placed on different days (one before the
period the tests look at), shipped, split over two warehouses, picked up, returned and
refunded, backordered, declined (a payment exception), plus an exception tied to no order,
a flow, a webhook endpoint with a delivery, and a reservation that is no order's.

Everything goes through the API and the worker (sandbox gateway, the test carriers) except
the exception tied to no order, which is raised with the exceptions service as any area
raises one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openoms.adapters.carriers import default_carriers
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.services.exceptions import raise_exception
from openoms.services.fulfillment import ship
from openoms.services.orders import ShortagePolicy
from tests.integration.conftest import Api
from tests.integration.returns_world import Shop, make_shop
from tests.network import configure_channel, stock_network
from tests.payloads import order_payload

FIRST_DAY = "2026-11-20"  # the §12 order's day; the world's other orders follow it


@dataclass
class World:
    shop: Shop
    orders: dict[str, str] = field(default_factory=dict)  # external reference → summary id


def _home(amount: str = "4.99", tax: str = "1.00") -> dict[str, Any]:
    return {
        "ref": "home",
        "method": "ship",
        "service": "standard",
        "recipient": {
            "name": "Grace Hopper",
            "address": {
                "line1": "2 High St",
                "city": "London",
                "postal_code": "EC1A 1BB",
                "country": "GB",
                "lat": 51.52,
                "lon": -0.10,
            },
        },
        "delivery_charge": {"amount": amount, "tax": tax},
    }


def one_group_order(
    reference: str,
    *,
    channel: str,
    day: str,
    lines: list[tuple[str, int, str]],
    currency: str = "GBP",
    token: str = "tok_visa",
) -> dict[str, Any]:
    """An order of (sku, units, unit price) lines shipped home, paid in full by `token`."""
    product = sum(int(price.replace(".", "")) * units for _, units, price in lines)
    total = product + 599
    return order_payload(
        external_reference=reference,
        channel=channel,
        currency=currency,
        ordered_at=f"{day}T09:30:00Z",
        delivery_groups=[_home()],
        items=[
            {
                "sku": sku,
                "quantity": units,
                "unit_price": price,
                "tax": "0.00",
                "delivery_group": "home",
            }
            for sku, units, price in lines
        ],
        adjustments=[],
        payments=[{"gateway": "sandbox", "token": token, "amount": f"{total / 100:.2f}"}],
    )


def build_world(api: Api) -> World:
    stock_network(
        api.db,
        stock={
            ("WH-LDN", "TEE-M"): 10,
            ("WH-MAN", "TEE-M"): 8,
            ("WH-LDN", "MUG"): 20,
            ("STORE-LDN", "MUG"): 10,
        },
    )
    configure_channel(api.db, ref="web-bo", shortage_policy=ShortagePolicy.BACKORDER)
    configure_channel(api.db, ref="web-eu")
    shop = make_shop(api.db, api)
    world = World(shop)
    # The §12 order: shipped (WH-LDN) and picked up (STORE-LDN), invoiced, captured; then
    # one TEE-M returned, received and refunded.
    world.orders["WEB-10001"] = shop.order()
    ro = shop.create(("TEE-M", 1), reason="too small", expected_location="WH-LDN")
    line = ro["lines"][0]["id"]
    shop.act(ro["id"], "approve")
    shop.act(ro["id"], "receive", {"items": [{"return_order_line_item_id": line, "quantity": 1}]})
    shop.drain()
    orders = [
        # 9 TEE-M: more than either warehouse holds, so two fulfillment orders (a split).
        one_group_order(
            "WEB-SPLIT", channel="web-uk", day="2026-11-21", lines=[("TEE-M", 9, "20.00")]
        ),
        # Nothing in stock anywhere: the backordering channel takes it and it waits.
        one_group_order("BO-1", channel="web-bo", day="2026-11-21", lines=[("RARE", 2, "5.00")]),
        # A card that is refused for good: a payment exception.
        one_group_order(
            "WEB-DECLINED",
            channel="web-uk",
            day="2026-11-22",
            lines=[("MUG", 1, "8.00")],
            token="tok_hard_decline",
        ),
        one_group_order(
            "EU-1", channel="web-eu", day="2026-11-22", lines=[("MUG", 2, "8.00")], currency="EUR"
        ),
        # Before the period the tests look at.
        one_group_order("WEB-OLD", channel="web-uk", day="2026-10-01", lines=[("MUG", 1, "8.00")]),
    ]
    for payload in orders:
        answer = api.client.post("/api/v1/orders", json=payload, headers=api.headers())
        assert answer.status_code == 201, answer.text
        world.orders[payload["external_reference"]] = answer.json()["id"]
    shop.drain()
    # The EUR order ships (a second capture-to-ship time).
    eu = shop.api.client.get(
        f"/api/v1/order-summaries/{world.orders['EU-1']}", headers=api.headers("agent")
    ).json()
    carriers = default_carriers(api.db, env={})
    with api.db.transaction() as session:
        for fo in eu["fulfillment_orders"]:
            ship(session, shop.outbox, fo["id"], carrier_choice=carriers)
        raise_exception(
            session,
            shop.outbox,
            order_summary_id=None,
            category=ProcessExceptionCategory.WEBHOOK,
            severity="medium",
            dedupe_key="console-world:no-order",
            message="An endpoint failed everything for 5 days and was disabled",
            action={},
        )
    shop.drain()
    return world
