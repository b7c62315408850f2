"""A small, realistic demo network: catalogue, customers and order payloads.

Seeding (`openoms seed`), the scripted demo (`openoms demo`) and the benchmarks all draw
their orders from here, so they exercise the same shapes a storefront sends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from openoms.domain.inventory import LocationType
from openoms.services.inventory import (
    Address,
    InventoryLine,
    LocationData,
    apply_inventory_import,
    list_inventory_records,
    upsert_location,
)
from openoms.services.orders import ChannelData, upsert_channel

if TYPE_CHECKING:
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


def restock_demo_network(db: Database, outbox: Outbox) -> int:
    """Bring every demo record back to its seeded stock available: on hand = seeded +
    what orders still hold (earlier demo runs leave orders unshipped, holding stock), so
    `openoms demo` can run again and again on one database. Returns records changed."""

    seeded = {(site.ref, product.sku): site.stock for site in SITES for product in CATALOGUE}
    lines = []
    with db.reading() as session:
        for site in SITES:
            after = None
            while True:
                page, after = list_inventory_records(
                    session, location=site.ref, after_id=after, limit=500, today=date.today()
                )
                for record in page:
                    key = (site.ref, record["sku"])
                    want = seeded.get(key, 0) + record["reserved"]
                    if key in seeded and record["on_hand"] != want:
                        lines.append((key, want))
                if after is None:
                    break
    records = [
        InventoryLine(line=n, location=ref, sku=sku, on_hand=on_hand)
        for n, ((ref, sku), on_hand) in enumerate(lines, start=1)
    ]
    if not records:
        return 0
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
