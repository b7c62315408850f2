"""Two channels and one order on each, taken as far as every kind of object that hangs off an
order summary exists (fulfillment orders, a shipment, an invoice and capture, a return
order, a process exception, the order's reservation), and keys bound to web-uk: the stage
for the channel-access tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields, replace
from typing import Any

from httpx import Response
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.outbox import Outbox
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.services.access import create_api_key
from openoms.services.exceptions import raise_exception
from openoms.services.orders import ChannelData, upsert_channel
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.helpers import row_counts, stock
from tests.integration.service_shop import Shop, make_shop
from tests.payloads import order_payload

UK, US = "web-uk", "web-us"


@dataclass(frozen=True)
class Ids:
    """The ids of one order and of what hangs off it."""

    summary: str
    tee: str  # the TEE-M order item summary
    ps: str  # its payment summary
    fo: str  # the open (pickup) fulfillment order
    shipment: str
    return_order: str
    return_line: str
    exception: str
    reservation: str

    def missing(self) -> Ids:
        """Ids of the same kinds that belong to nothing."""
        return replace(
            self, **{f.name: new_id(getattr(self, f.name).split("_")[0]) for f in fields(self)}
        )

    def normalise(self, text: str) -> str:
        """`text` with each of these ids replaced by its field name, so the answers about two
        sets of ids compare."""
        for f in fields(self):
            text = text.replace(getattr(self, f.name), f"<{f.name}>")
        return text


@dataclass
class World:
    api: Api
    shop: Shop
    uk: Ids
    us: Ids
    keys: dict[str, str]  # uk_shop: storefront bound to web-uk; uk_staff: every scope but admin

    def call(self, who: str, method: str, path: str, body: Any = None) -> Response:
        """`method path` as `who` (a bound key's name, or a scope of the unbound test keys),
        with a fresh Idempotency-Key on a POST."""
        key = self.keys.get(who) or self.api.keys[who]
        headers = {"Authorization": f"Bearer {key}"}
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        return self.api.client.request(method, path, json=body, headers=headers)

    def get(self, who: str, path: str, **params: Any) -> Any:
        answer = self.api.client.get(
            path,
            params=params,
            headers={"Authorization": f"Bearer {self.keys.get(who) or self.api.keys[who]}"},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def snapshot(self) -> dict[str, Any]:
        """Everything a refused request must leave as it was: both orders as the admin sees
        them, the objects hanging off them, stock, money and every table's row count."""
        db = self.api.db
        with db.reading() as session:
            money = session.execute(
                select(m.OrderPaymentSummary.id, m.OrderPaymentSummary.captured)
                .add_columns(m.OrderPaymentSummary.refunded, m.OrderPaymentSummary.authorized)
                .order_by(m.OrderPaymentSummary.id)
            ).all()
        return {
            "orders": [
                self.get("admin", f"/api/v1/order-summaries/{i.summary}")
                for i in (self.uk, self.us)
            ],
            "returns": self.get("admin", "/api/v1/return-orders"),
            "exceptions": self.get("admin", "/api/v1/process-exceptions"),
            "reservations": [
                self.get("admin", f"/api/v1/reservations/{i.reservation}")
                for i in (self.uk, self.us)
            ],
            "stock": stock(db),
            "money": [tuple(row) for row in money],
            "rows": row_counts(db, [mapper.class_ for mapper in m.Base.registry.mappers]),
        }


def build_world(api: Api) -> World:
    """Orders WEB-UK-1 on web-uk (customer ada@example.com) and WEB-US-1 on web-us
    (grace@example.com), each routed, its TEE-M shipped, invoiced and captured, with a draft
    return and an open process exception; keys bound to web-uk."""
    outbox = Outbox(default_registry())
    with api.db.transaction() as session:
        upsert_channel(session, outbox, US, ChannelData(location_group="online"))
        _, uk_shop = create_api_key(session, name="uk shop", scopes=["storefront"], channels=[UK])
        _, uk_staff = create_api_key(
            session,
            name="uk staff",
            scopes=["storefront", "warehouse", "agent"],
            channels=[UK],
        )
    world = World(api, make_shop(api), uk=_empty(), us=_empty(), keys={})
    world.keys = {"uk_shop": uk_shop, "uk_staff": uk_staff}
    world.uk = _order(world, UK, "WEB-UK-1", "ada@example.com")
    world.us = _order(world, US, "WEB-US-1", "grace@example.com")
    return world


def _empty() -> Ids:
    return Ids(*([""] * len(fields(Ids))))


def _order(world: World, channel: str, reference: str, email: str) -> Ids:
    payload = order_payload(
        external_reference=reference,
        channel=channel,
        customer={"name": "A Customer", "email": email},
    )
    answer = world.call("storefront", "POST", "/api/v1/orders", payload)
    assert answer.status_code == 201, answer.text
    summary_id = answer.json()["id"]
    world.shop.summary_id = summary_id
    world.shop.drain()
    view = world.shop.view()
    fos = {fo["location"]: fo["id"] for fo in view["fulfillment_orders"]}
    shipment = world.shop.ship_fo(fos["WH-LDN"])
    world.shop.drain()
    tee = world.shop.item_id("TEE-M")
    created = world.call(
        "agent",
        "POST",
        "/api/v1/return-orders",
        {
            "order_summary_id": summary_id,
            "items": [{"order_item_summary_id": tee, "quantity": 1}],
            "submit": False,
        },
    )
    assert created.status_code == 201, created.text
    outbox = Outbox(default_registry())
    with world.api.db.transaction() as session:
        exception, _ = raise_exception(
            session,
            outbox,
            order_summary_id=summary_id,
            category=ProcessExceptionCategory.PAYMENT,
            severity="high",
            dedupe_key=f"test:{summary_id}",
            message="the gateway said no",
            action={},
        )
        reservation = session.scalars(
            select(m.Reservation.id).where(m.Reservation.order_summary_id == summary_id)
        ).first()
    assert reservation is not None
    return Ids(
        summary=summary_id,
        tee=tee,
        ps=view["payment_summaries"][0]["id"],
        fo=fos["STORE-LDN"],
        shipment=shipment["id"],
        return_order=created.json()["id"],
        return_line=created.json()["lines"][0]["id"],
        exception=exception.id,
        reservation=reservation,
    )
