"""A small, realistic demo network: catalogue, customers and order payloads.

Seeding (`openoms seed`), the scripted demo (`openoms demo`) and the benchmarks all draw
their orders from here, so they exercise the same shapes a storefront sends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from openoms.domain.errors import DomainError
from openoms.domain.inventory import LocationType
from openoms.schemas.orders import OrderCreate
from openoms.services.capture import capture_order
from openoms.services.channels import ChannelData, upsert_channel
from openoms.services.inventory_import import InventoryLine, apply_inventory_import
from openoms.services.locations import Address, LocationData, upsert_location
from openoms.services.views import order_summary_view

if TYPE_CHECKING:
    from rich.console import Console

    from openoms.adapters.db.session import Database
    from openoms.adapters.outbox import Outbox


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


def run_demo(db: Database, outbox: Outbox, console: Console) -> None:
    """Capture a few orders end to end and print what happened at each step."""
    from rich.table import Table

    from openoms.adapters.carriers import default_carriers
    from openoms.adapters.payments import default_gateways
    from openoms.services.labels import request_label
    from openoms.services.shipping import ship
    from openoms.worker.consumers import default_jobs, default_registry
    from openoms.worker.runner import Worker

    carriers = default_carriers()
    seed_demo_network(db, outbox)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    payloads = demo_orders(4, seed=int(stamp[-8:]), prefix=f"RUN{stamp}")
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
        OrderCreate.model_validate(broken).to_draft()
        with db.transaction() as session:
            capture_order(session, outbox, OrderCreate.model_validate(broken).to_draft())
    except DomainError as exc:
        console.print(f"refused: [bold]{exc.code}[/bold] — {exc.detail}")

    console.rule("4. the worker routes every delivery group to fulfillment orders")
    worker = Worker(db, default_registry(), jobs=default_jobs(carriers, default_gateways()))
    handled = sum(iter(worker.run_once, 0))  # until idle
    console.print(f"{handled} events and jobs handled")

    console.rule("5. the warehouse ships the first order")
    with db.reading() as session:
        first_fos = [fo["id"] for fo in order_summary_view(session, ids[0])["fulfillment_orders"]]
    for fo_id in first_fos:
        with db.transaction() as session:
            shipment = ship(session, outbox, fo_id, carrier_choice=carriers)
        label = request_label(db, outbox, carriers, shipment.id)
        console.print(f"shipped {fo_id}: label {label.outcome.value.lower()}")
    handled = sum(iter(worker.run_once, 0))  # invoices for the shipments, then captures
    console.print(f"{handled} events and jobs handled: invoiced and captured what shipped")

    console.rule("6. the order summaries")
    table = Table(
        "order summary", "channel", "status", "items", "grand total", "captured", "fulfillment"
    )
    with db.reading() as session:
        for summary_id in ids:
            view = order_summary_view(session, summary_id)
            products = [i for i in view["items"] if i["type"] == "product"]
            table.add_row(
                view["id"],
                view["channel"],
                view["status"],
                ", ".join(f"{i['quantity_ordered']}× {i['sku']}" for i in products),
                f"{view['totals']['grand_total']} {view['currency']}",
                ", ".join(p["captured"] for p in view["payment_summaries"]) or "-",
                "; ".join(_fulfillment_line(fo) for fo in view["fulfillment_orders"]),
            )
    console.print(table)


def _fulfillment_line(fo: dict[str, Any]) -> str:
    tracking = [s["tracking_number"] for s in fo["shipments"] if s.get("tracking_number")]
    units = sum(line["quantity"] for line in fo["lines"])
    text = f"{fo['location']} {units}u {fo['status']}"
    return text + (f" {tracking[0]}" if tracking else "")
