"""A small stocked network for tests that capture orders (keyword-only factories)."""

from __future__ import annotations

from typing import Any

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.inventory import LocationType
from openoms.services.inventory import (
    Address,
    InventoryLine,
    LocationData,
    apply_inventory_import,
    upsert_location,
)
from openoms.services.orders import ChannelData, ShortagePolicy, upsert_channel
from openoms.worker.consumers import default_registry

Site = tuple[LocationType, str, float, float, bool, bool, str]
# ref: (type, city, lat, lon, can_ship, can_pickup, group)
LOCATIONS: dict[str, Site] = {
    "WH-LDN": (LocationType.WAREHOUSE, "London", 51.50, -0.12, True, False, "online"),
    "WH-MAN": (LocationType.WAREHOUSE, "Manchester", 53.48, -2.24, True, False, "online"),
    "STORE-LDN": (LocationType.STORE, "London", 51.52, -0.08, True, True, "stores"),
}
# (location, sku): on_hand — enough for the §12 order (3× TEE-M shipped, 1× MUG picked up)
STOCK = {
    ("WH-LDN", "TEE-M"): 10,
    ("WH-MAN", "TEE-M"): 5,
    ("WH-LDN", "MUG"): 20,
    ("STORE-LDN", "MUG"): 10,
}


def stock_network(
    db: Database,
    *,
    stock: dict[tuple[str, str], int] | None = None,
    channel: str = "web-uk",
    shortage_policy: ShortagePolicy = ShortagePolicy.REJECT,
    max_splits: int = 2,
    locations: dict[str, Site] | None = None,
) -> None:
    """Locations (default LOCATIONS: groups "online" of warehouses and "stores"), the channel
    routed to "online", and stock (default STOCK)."""
    outbox = Outbox(default_registry())
    with db.transaction() as session:
        for ref, (kind, city, lat, lon, ships, pickup, group) in (locations or LOCATIONS).items():
            upsert_location(
                session,
                outbox,
                ref,
                LocationData(
                    name=ref,
                    type=kind,
                    address=Address(line1="1 Test St", city=city, country="GB", lat=lat, lon=lon),
                    can_ship=ships,
                    can_pickup=pickup,
                    groups=(group,),
                ),
            )
        upsert_channel(
            session,
            outbox,
            channel,
            ChannelData(
                location_group="online", shortage_policy=shortage_policy, max_splits=max_splits
            ),
        )
    records = [
        InventoryLine(line=n, location=loc, sku=sku, on_hand=qty)
        for n, ((loc, sku), qty) in enumerate((stock or STOCK).items(), start=1)
    ]
    apply_inventory_import(db, outbox, records, mode="delta")


def configure_channel(
    db: Database, *, ref: str, location_group: str | None = "online", **policy: Any
) -> None:
    """Configure channel `ref` (orders must name a configured channel): `policy` holds
    further ChannelData fields."""
    with db.transaction() as session:
        data = ChannelData(location_group=location_group, **policy)
        upsert_channel(session, Outbox(default_registry()), ref, data)
