"""A small, realistic demo network: catalogue, customers and order payloads.

Seeding (`openoms seed`), the scripted demo (`openoms demo`) and the benchmarks all draw
their orders from here, so they exercise the same shapes a storefront sends.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from openoms.domain.errors import DomainError
from openoms.domain.inventory import LocationType
from openoms.domain.money import format_minor
from openoms.schemas.orders import OrderCreate
from openoms.schemas.service_actions import (
    AdjustItemsIn,
    ItemAdjustmentIn,
    ItemChangeIn,
    ItemsActionIn,
)
from openoms.services.adjustments import submit_adjustments
from openoms.services.cancels import cancel_with_messages
from openoms.services.capture import capture_order
from openoms.services.change_orders import action_result
from openoms.services.channels import ChannelData, upsert_channel
from openoms.services.inventory import list_inventory_records
from openoms.services.inventory_import import InventoryLine, apply_inventory_import
from openoms.services.invoicing import RESHIP
from openoms.services.locations import Address, LocationData, upsert_location
from openoms.services.reconciliation import Ledger, reconcile
from openoms.services.reships import ReshipReason, ReshipRequest, submit_reship
from openoms.services.return_receipts import ReceiptRequest
from openoms.services.return_views import get_return_order
from openoms.services.returns import (
    ReturnLineRequest,
    approve_return_order,
    create_return_order,
    mark_return_in_transit,
    receive,
)
from openoms.services.views import order_summary_view

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.orm import Session

    from openoms.adapters.carriers import Carriers
    from openoms.adapters.db.session import Database
    from openoms.adapters.outbox import Outbox
    from openoms.services.return_common import ReturnOutcome
    from openoms.worker.runner import Worker


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    price: Decimal  # GBP; the tax rate of the market is applied on top


CATALOGUE = (
    Product("TEE-S", "Organic tee, small", Decimal("20.00")),
    Product("TEE-M", "Organic tee, medium", Decimal("20.00")),
    Product("TEE-L", "Organic tee, large", Decimal("20.00")),
    Product("HOODIE-M", "Loopback hoodie, medium", Decimal("55.00")),
    Product("MUG", "Enamel mug", Decimal("8.00")),
    Product("CAP", "Six-panel cap", Decimal("18.50")),
    Product("SOCKS-3", "Socks, three pairs", Decimal("12.00")),
    Product("TOTE", "Canvas tote", Decimal("9.99")),
)


@dataclass(frozen=True, slots=True)
class Market:
    channel: str
    currency: str
    country: str
    tax_rate: Decimal
    city: str
    postal_code: str
    lat: float
    lon: float
    pickup_store: str
    delivery_charge: Decimal


MARKETS = (
    Market(
        "web-uk",
        "GBP",
        "GB",
        Decimal("0.20"),
        "London",
        "EC1A 1BB",
        51.52,
        -0.10,
        "STORE-LDN",
        Decimal("4.99"),
    ),
    Market(
        "web-de",
        "EUR",
        "DE",
        Decimal("0.19"),
        "Berlin",
        "10115",
        52.53,
        13.38,
        "STORE-BER",
        Decimal("5.90"),
    ),
    Market(
        "web-us",
        "USD",
        "US",
        Decimal("0.08"),
        "New York",
        "10001",
        40.75,
        -73.99,
        "STORE-NYC",
        Decimal("6.95"),
    ),
)

CUSTOMERS = (
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.com"),
    ("Alan Turing", "alan@example.com"),
    ("Katherine Johnson", "katherine@example.com"),
    ("Edsger Dijkstra", "edsger@example.com"),
    ("Barbara Liskov", "barbara@example.com"),
)

_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Site:
    ref: str
    name: str
    type: LocationType
    city: str
    country: str
    lat: float
    lon: float
    group: str
    stock: int  # units of every catalogue SKU

    @property
    def is_store(self) -> bool:
        return self.type is LocationType.STORE


SITES = (
    Site(
        "WH-UK",
        "Milton Keynes DC",
        LocationType.WAREHOUSE,
        "Milton Keynes",
        "GB",
        52.04,
        -0.76,
        "online-uk",
        400,
    ),
    Site(
        "WH-UK-NORTH",
        "Leeds 3PL",
        LocationType.THREE_PL,
        "Leeds",
        "GB",
        53.80,
        -1.55,
        "online-uk",
        150,
    ),
    Site(
        "STORE-LDN",
        "London Shoreditch",
        LocationType.STORE,
        "London",
        "GB",
        51.52,
        -0.08,
        "online-uk",
        12,
    ),
    Site(
        "WH-DE",
        "Leipzig DC",
        LocationType.WAREHOUSE,
        "Leipzig",
        "DE",
        51.34,
        12.37,
        "online-de",
        300,
    ),
    Site(
        "STORE-BER",
        "Berlin Mitte",
        LocationType.STORE,
        "Berlin",
        "DE",
        52.53,
        13.40,
        "online-de",
        10,
    ),
    Site(
        "WH-US",
        "Columbus DC",
        LocationType.WAREHOUSE,
        "Columbus",
        "US",
        39.96,
        -83.00,
        "online-us",
        500,
    ),
    Site(
        "STORE-NYC",
        "New York SoHo",
        LocationType.STORE,
        "New York",
        "US",
        40.72,
        -74.00,
        "online-us",
        15,
    ),
)


def seed_demo_network(db: Database, outbox: Outbox) -> int:
    """Locations, groups, channels and stock of the demo (idempotent: upserts and
    record ids). Returns the number of inventory records applied this time."""
    with db.transaction() as session:
        for site in SITES:
            upsert_location(
                session,
                outbox,
                site.ref,
                LocationData(
                    name=site.name,
                    type=site.type,
                    address=Address(
                        line1="1 Commerce Way",
                        city=site.city,
                        country=site.country,
                        lat=site.lat,
                        lon=site.lon,
                    ),
                    can_ship=True,
                    can_pickup=site.is_store,
                    daily_capacity=200 if site.is_store else 5000,
                    groups=(site.group,),
                ),
            )
        for market in MARKETS:
            group = "online-" + market.channel.removeprefix("web-")
            upsert_channel(session, outbox, market.channel, ChannelData(location_group=group))
    records = [
        InventoryLine(
            line=n,
            location=site.ref,
            sku=product.sku,
            on_hand=site.stock,
            safety_stock=2 if site.is_store else 0,
            record_id=f"demo-seed:{site.ref}:{product.sku}",
        )
        for n, (site, product) in enumerate(
            ((site, product) for site in SITES for product in CATALOGUE), start=1
        )
    ]
    return apply_inventory_import(db, outbox, records, mode="delta").applied


def _money(value: Decimal) -> str:
    return str(value.quantize(_CENT))


def demo_order(
    rng: random.Random, *, external_reference: str, ordered_at: datetime
) -> dict[str, Any]:
    """One order payload (DESIGN.md §12) with 1–4 lines, sometimes a discount or a pickup."""
    market = rng.choice(MARKETS)
    name, email = rng.choice(CUSTOMERS)
    with_pickup = rng.random() < 0.25
    groups: list[dict[str, Any]] = [
        {
            "ref": "home",
            "method": "ship",
            "service": rng.choice(["standard", "express"]),
            "recipient": {
                "name": name,
                "email": email,
                "address": {
                    "line1": f"{rng.randint(1, 200)} High Street",
                    "city": market.city,
                    "postal_code": market.postal_code,
                    "country": market.country,
                    "lat": market.lat,
                    "lon": market.lon,
                },
            },
            "delivery_charge": {
                "amount": _money(market.delivery_charge),
                "tax": _money(market.delivery_charge * market.tax_rate),
            },
        }
    ]
    if with_pickup:
        groups.append({"ref": "store", "method": "pickup", "pickup_location": market.pickup_store})
    products = rng.sample(CATALOGUE, rng.randint(1, 4))
    items = []
    for index, product in enumerate(products):
        quantity = rng.randint(1, 3)
        line_price = product.price * quantity
        item: dict[str, Any] = {
            "sku": product.sku,
            "name": product.name,
            "quantity": quantity,
            "unit_price": _money(product.price),
            "tax": _money(line_price * market.tax_rate),
            "delivery_group": "store" if with_pickup and index == 0 else "home",
        }
        if quantity == 3 and rng.random() < 0.5:
            item["adjustments"] = [{"amount": _money(-product.price), "reason": "3 for 2"}]
        items.append(item)
    if with_pickup and all(i["delivery_group"] == "store" for i in items):
        groups.pop(0)  # a pickup-only order has no home delivery
    payload: dict[str, Any] = {
        "channel": market.channel,
        "external_reference": external_reference,
        "currency": market.currency,
        "ordered_at": ordered_at.isoformat().replace("+00:00", "Z"),
        "customer": {"name": name, "email": email},
        "delivery_groups": groups,
        "items": items,
    }
    if rng.random() < 0.3:
        payload["adjustments"] = [{"amount": "-5.00", "reason": "WELCOME5"}]
    payload["payments"] = [
        {"gateway": "sandbox", "token": "tok_visa", "amount": _money(grand_total(payload))}
    ]
    return payload


def grand_total(payload: dict[str, Any]) -> Decimal:
    """What a storefront would compute: lines, their adjustments and tax, delivery, discounts."""
    total = Decimal(0)
    for item in payload["items"]:
        total += Decimal(item["unit_price"]) * item["quantity"] + Decimal(item["tax"])
        total += sum((Decimal(a["amount"]) for a in item.get("adjustments", [])), Decimal(0))
    for group in payload["delivery_groups"]:
        charge = group.get("delivery_charge") or {}
        total += Decimal(charge.get("amount", "0")) + Decimal(charge.get("tax", "0"))
    total += sum((Decimal(a["amount"]) for a in payload.get("adjustments", [])), Decimal(0))
    return total


def demo_orders(count: int, *, seed: int = 7, prefix: str = "DEMO") -> list[dict[str, Any]]:
    """`count` reproducible orders, one a few minutes after the other."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    return [
        demo_order(
            rng,
            external_reference=f"{prefix}-{n + 1:05d}",
            ordered_at=start + timedelta(minutes=7 * n),
        )
        for n in range(count)
    ]


def service_ready_orders(seed: int, *, prefix: str) -> list[dict[str, Any]]:
    """Four demo orders from the first seed, counting up from `seed`, whose first two orders
    each have an item of two or more units: the scripted demo returns one unit of the first
    order's and reships another, and cancels one of the second order's while one stays."""
    while True:
        payloads = demo_orders(4, seed=seed, prefix=prefix)
        if all(any(i["quantity"] >= 2 for i in p["items"]) for p in payloads[:2]):
            return payloads
        seed += 1


def receiving_location(channel: str, shipped_from: str) -> str:
    """Where the demo's return arrives: a location of the channel's group other than the one
    the unit shipped from, a store first (customers bring returns to a shop)."""
    group = "online-" + channel.removeprefix("web-")
    others = [s for s in SITES if s.group == group and s.ref != shipped_from]
    return min(others, key=lambda s: not s.is_store).ref


@dataclass(slots=True)
class _Run:
    """What every step of the scripted demo uses. Each step runs in its own transaction,
    then the worker runs until idle (routing, invoices, captures, refunds)."""

    db: Database
    outbox: Outbox
    console: Console
    carriers: Carriers
    worker: Worker

    def settle(self) -> int:
        return sum(iter(self.worker.run_once, 0))

    def view(self, summary_id: str) -> dict[str, Any]:
        with self.db.reading() as session:
            return order_summary_view(session, summary_id)

    def ship(self, fo_ids: list[str]) -> None:
        from openoms.services.labels import request_label
        from openoms.services.shipping import ship

        for fo_id in fo_ids:
            with self.db.transaction() as session:
                shipment = ship(session, self.outbox, fo_id, carrier_choice=self.carriers)
            label = request_label(self.db, self.outbox, self.carriers, shipment.id)
            self.console.print(f"shipped {fo_id}: label {label.outcome.value.lower()}")


def run_demo(db: Database, outbox: Outbox, console: Console) -> None:
    """Capture a few orders end to end, then act on them as an agent would (cancel, a
    refusal, return, discount, reship) through the services the API calls, printing what
    happened at each step, and reconcile the money with the documents."""
    from openoms.adapters.carriers import default_carriers
    from openoms.adapters.payments import default_gateways
    from openoms.worker.consumers import default_jobs, default_registry
    from openoms.worker.runner import Worker

    carriers = default_carriers()
    worker = Worker(db, default_registry(), jobs=default_jobs(carriers, default_gateways()))
    run = _Run(db, outbox, console, carriers, worker)
    seed_demo_network(db, outbox)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    payloads = service_ready_orders(int(stamp[-8:]), prefix=f"RUN{stamp}")
    ids = _capture(run, payloads, stamp)

    console.rule("4. the worker routes every delivery group to fulfillment orders")
    console.print(f"{run.settle()} events and jobs handled")

    console.rule("5. the warehouse ships the first order")
    run.ship([fo["id"] for fo in run.view(ids[0])["fulfillment_orders"]])
    handled = run.settle()  # invoices for the shipments, then captures
    console.print(f"{handled} events and jobs handled: invoiced and captured what shipped")

    _cancel_one_unit(run, ids[1])
    _refuse_cancel_of_shipped(run, ids[0])
    _return_one_unit(run, ids[0])
    _discount(run, ids[0])
    _reship_one_unit(run, ids[0])
    _summaries(run, ids)


def _capture(run: _Run, payloads: list[dict[str, Any]], stamp: str) -> list[str]:
    """Steps 1–3: capture the orders, a storefront's retry, a broken order refused."""
    db, outbox, console = run.db, run.outbox, run.console
    console.rule("1. capture four orders from three storefronts")
    ids = []
    for payload in payloads:
        draft = OrderCreate.model_validate(payload).to_draft()
        with db.transaction() as session:
            result = capture_order(session, outbox, draft)
        ids.append(result.order_summary_id)
        console.print(
            f"captured {payload['channel']} {payload['external_reference']}"
            f" → {result.order_summary_id}"
        )

    console.rule("2. the storefront retries the first order (network blip)")
    with db.transaction() as session:
        retry = capture_order(session, outbox, OrderCreate.model_validate(payloads[0]).to_draft())
    console.print(f"created again? {retry.created} — same summary {retry.order_summary_id}")

    console.rule("3. a broken order is refused and stores nothing")
    broken = dict(payloads[1], external_reference=f"RUN{stamp}-BROKEN", grand_total="1.00")
    try:
        with db.transaction() as session:
            capture_order(session, outbox, OrderCreate.model_validate(broken).to_draft())
    except DomainError as exc:
        console.print(f"refused: [bold]{exc.code}[/bold] — {exc.detail}")
    return ids


# --- the service actions, each through the service the API calls ----------------------------


def _multi_unit_item(view: dict[str, Any]) -> dict[str, Any]:
    """The order's first product of two or more units (`service_ready_orders` made sure)."""
    return next(i for i in view["items"] if i["type"] == "product" and i["quantity_ordered"] >= 2)


def _fo_line(view: dict[str, Any], item_id: str) -> tuple[str, str, int]:
    """(FO id, location, units) of the item's line on its first fulfillment order (not a
    reship's)."""
    return next(
        (fo["id"], fo["location"], line["quantity"])
        for fo in view["fulfillment_orders"]
        if fo["type"] != RESHIP
        for line in fo["lines"]
        if line["order_item_summary_id"] == item_id
    )


def _one_unit(item_id: str, reason: str) -> ItemsActionIn:
    return ItemsActionIn(
        items=[ItemChangeIn(order_item_summary_id=item_id, quantity=1)], reason=reason
    )


def _refunded(view: dict[str, Any]) -> Decimal:
    return sum((Decimal(p["refunded"]) for p in view["payment_summaries"]), Decimal(0))


def _cancel_one_unit(run: _Run, summary_id: str) -> None:
    run.console.rule("6. an agent cancels one unit of the second order before it ships")
    before = run.view(summary_id)
    item = _multi_unit_item(before)
    fo_id, location, units = _fo_line(before, item["id"])
    with run.db.transaction() as session:
        request = _one_unit(item["id"], "customer changed their mind")
        recorded, messages = cancel_with_messages(session, run.outbox, summary_id, request)
        result = action_result(session, summary_id, recorded, preview=False, messages=messages)
    run.settle()
    after = run.view(summary_id)
    currency = after["currency"]
    change = result["change_orders"][0]
    run.console.print(
        f"canceled 1× {item['sku']}: change order {change['kind']} {change['grand_total']}"
        f" {currency}; grand total {before['totals']['grand_total']}"
        f" → {after['totals']['grand_total']} {currency}"
    )
    left = _fo_line(after, item["id"])[2]
    run.console.print(f"fulfillment order {fo_id} at {location}: {item['sku']} {units} → {left}")
    for message in result["messages"]:
        run.console.print(f"note: {message}")


def _refuse_cancel_of_shipped(run: _Run, summary_id: str) -> None:
    run.console.rule("7. an action that cannot be done is refused, saying why")
    item = _multi_unit_item(run.view(summary_id))
    try:
        with run.db.transaction() as session:
            request = _one_unit(item["id"], "arrived too late")
            cancel_with_messages(session, run.outbox, summary_id, request)
    except DomainError as exc:
        run.console.print(f"refused: [bold]{exc.code}[/bold] — {exc.detail}")


def _return_one_unit(run: _Run, summary_id: str) -> None:
    """An RMA of one unit: submitted, approved, in transit, received and restocked at
    another location of the order's group than the one it shipped from."""
    run.console.rule("8. one unit of the first order comes back, to another location (RMA)")
    before = run.view(summary_id)
    item = _multi_unit_item(before)
    shipped_from = _fo_line(before, item["id"])[1]
    where = receiving_location(before["channel"], shipped_from)
    stock_before = _on_hand(run, where, item["sku"])
    with run.db.transaction() as session:
        line = ReturnLineRequest(item["id"], 1, "too small")
        outcome = create_return_order(
            session, run.outbox, summary_id, [line], expected_location=where
        )
        rma = get_return_order(session, outcome.return_order_id)
    run.settle()
    statuses, recorded = [rma["status"]], list(outcome.recorded)
    receipt = ReceiptRequest(rma["lines"][0]["id"], 1)  # restocked where it is expected
    steps: list[Callable[[Session], ReturnOutcome]] = [
        lambda s: approve_return_order(s, run.outbox, rma["id"]),
        lambda s: mark_return_in_transit(s, run.outbox, rma["id"]),
        lambda s: receive(s, run.outbox, rma["id"], [receipt]),
    ]
    for step in steps:
        with run.db.transaction() as session:
            recorded += step(session).recorded
            statuses.append(get_return_order(session, rma["id"])["status"])
        run.settle()
    after = run.view(summary_id)
    currency, credited = after["currency"], recorded[-1]
    run.console.print(
        f"return {rma['id']} of 1× {item['sku']}: {' → '.join(statuses)}; shipped from "
        f"{shipped_from}, received and restocked at {where}"
    )
    run.console.print(
        f"credit memo {credited.credit_memo_id} "
        f"{format_minor(credited.credited, currency)} {currency}; refunded "
        f"{_refunded(after) - _refunded(before)} {currency}"
    )
    run.console.print(
        f"{item['sku']} on hand at {where}: {stock_before} → {_on_hand(run, where, item['sku'])}"
    )


def _on_hand(run: _Run, location: str, sku: str) -> int:
    with run.db.reading() as session:
        records, _ = list_inventory_records(
            session, location=location, sku=sku, today=datetime.now(UTC).date()
        )
    return int(records[0]["on_hand"]) if records else 0


def _discount(run: _Run, summary_id: str) -> None:
    run.console.rule("9. a goodwill discount on an item of the first order")
    before = run.view(summary_id)
    item = _multi_unit_item(before)
    adjustment = ItemAdjustmentIn(order_item_summary_id=item["id"], type="percentage", amount="10")
    with run.db.transaction() as session:
        request = AdjustItemsIn(items=[adjustment], reason="goodwill: late delivery")
        recorded = submit_adjustments(session, run.outbox, summary_id, request)
        result = action_result(session, summary_id, recorded, preview=False)
    run.settle()
    after = run.view(summary_id)
    currency = after["currency"]
    stages = ", ".join(f"{c['stage']} {c['grand_total']}" for c in result["change_orders"])
    run.console.print(
        f"10% off {item['sku']}: change orders {stages} {currency}; credit memo "
        f"{result['to_refund']} {currency}, refunded {_refunded(after) - _refunded(before)}"
        f" {currency}"
    )


def _reship_one_unit(run: _Run, summary_id: str) -> None:
    run.console.rule("10. a unit of the first order lost in transit is reshipped, free")
    before = run.view(summary_id)
    item = _multi_unit_item(before)
    with run.db.transaction() as session:
        reship = submit_reship(
            session,
            run.outbox,
            summary_id,
            [ReshipRequest(item["id"], 1)],
            reason=ReshipReason.LOST_IN_TRANSIT,
            note="the carrier lost the parcel",
        )
    run.settle()  # the routing job makes the reship fulfillment order
    fos = [
        fo
        for fo in run.view(summary_id)["fulfillment_orders"]
        if fo["type"] == RESHIP and fo["status"] != "FULFILLED"
    ]
    run.console.print(
        f"reship {reship.reship_id} of 1× {item['sku']}: "
        + "; ".join(
            f"fulfillment order {fo['id']} ({fo['type']}) at {fo['location']}" for fo in fos
        )
    )
    run.ship([fo["id"] for fo in fos])
    run.settle()
    after = run.view(summary_id)
    currency = after["currency"]
    run.console.print(
        f"no invoice, no charge: invoices {len(before['invoices'])} → {len(after['invoices'])}, "
        f"captured {_captured(before)} → {_captured(after)} {currency}"
    )


def _captured(view: dict[str, Any]) -> Decimal:
    return sum((Decimal(p["captured"]) for p in view["payment_summaries"]), Decimal(0))


# --- the result ---------------------------------------------------------------------------


def _summaries(run: _Run, ids: list[str]) -> None:
    from rich.table import Table

    run.console.rule("11. the order summaries, and does the money agree with the documents?")
    table = Table(
        "order summary",
        "channel",
        "status",
        "items",
        "grand total",
        "captured",
        "refunded",
        "changes",
        "fulfillment",
    )
    with run.db.reading() as session:
        views = [order_summary_view(session, summary_id) for summary_id in ids]
        ledgers = {ledger.order_summary_id: ledger for ledger in reconcile(session).orders}
    for view in views:
        table.add_row(
            view["id"],
            view["channel"],
            view["status"],
            ", ".join(_item_cell(i) for i in view["items"] if i["type"] == "product"),
            f"{view['totals']['grand_total']} {view['currency']}",
            ", ".join(p["captured"] for p in view["payment_summaries"]) or "-",
            ", ".join(p["refunded"] for p in view["payment_summaries"]) or "-",
            str(len(view["change_orders"])),
            "; ".join(_fulfillment_line(fo) for fo in view["fulfillment_orders"]),
        )
    run.console.print(table)
    for view in views:
        run.console.print(_reconciliation_line(view, ledgers[view["id"]]))


def _item_cell(item: dict[str, Any]) -> str:
    """E.g. "3× TEE-M (1 returned, 1 reshipped)"."""
    moved = [
        f"{item[f'quantity_{counter}']} {counter}"
        for counter in ("canceled", "returned", "reshipped")
        if item[f"quantity_{counter}"]
    ]
    text = f"{item['quantity_ordered']}× {item['sku']}"
    return text + (f" ({', '.join(moved)})" if moved else "")


def _reconciliation_line(view: dict[str, Any], ledger: Ledger) -> str:
    """Σ invoices − Σ credit memos against the grand total, captured − refunded against it."""
    figures = ledger.view()
    currency = ledger.currency
    net = format_minor(ledger.invoiced - ledger.credited, currency)
    kept = format_minor(ledger.captured - ledger.refunded, currency)
    verdict = "; ".join(ledger.mismatches) or "no mismatch"
    return (
        f"{view['id']}: invoiced {figures['invoiced']} − credited {figures['credited']} = {net}"
        f" of grand total {view['totals']['grand_total']} {currency}; captured "
        f"{figures['captured']} − refunded {figures['refunded']} = {kept}; {verdict}"
    )


def _fulfillment_line(fo: dict[str, Any]) -> str:
    tracking = [s["tracking_number"] for s in fo["shipments"] if s.get("tracking_number")]
    units = sum(line["quantity"] for line in fo["lines"])
    kind = f" {fo['type']}" if fo["type"] == RESHIP else ""
    text = f"{fo['location']}{kind} {units}u {fo['status']}"
    return text + (f" {tracking[0]}" if tracking else "")
