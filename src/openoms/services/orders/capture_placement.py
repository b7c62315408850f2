"""Where capture holds a ship group's units: where the channel's routing strategy will ship
them from (DESIGN.md §5, §6).

Capture reads what the group's locations have (the reservation's own read) and runs the
channel's strategy over it, with the candidates routing will weigh: the channel's active
locations that can ship, by ref, each with its free units, coordinates and shipping rate,
towards the group's address. The units are then held at the locations chosen. Routing, run
later over the same stock (the order's own units count as available where they sit), makes
the same choice and finds the units already held there: it confirms instead of moving
stock. When stock changed in between and it chooses otherwise, it moves them as before.
A strategy that cannot place every unit leaves the reservation to its default (deepest
stock first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.repositories import routing as routing_repo
from openoms.domain.inventory import Hold
from openoms.domain.order import DeliveryGroup
from openoms.domain.routing import (
    Candidate,
    Destination,
    RoutingItem,
    RoutingPolicy,
    ShippingCost,
    route,
)
from openoms.services.inventory import Available
from openoms.services.orders.channels import ChannelPolicy


def shipping_cost(
    rates: Iterable[Mapping[str, Any]], country: str | None, currency: str
) -> ShippingCost | None:
    """A location's rate to the country in the order's currency, else its "*" rate (shared
    with routing's candidates, so capture and routing weigh the same costs)."""
    priced = [r for r in rates if r.get("currency") == currency]
    for wanted in (country, "*"):
        for rate in priced:
            if rate.get("country") == wanted:
                return ShippingCost(int(rate["per_shipment"]), int(rate["per_unit"]))
    return None


def strategy_placement(
    session: Session,
    policy: ChannelPolicy,
    group: DeliveryGroup,
    items: Mapping[str, int],
    currency: str,
) -> Callable[[Available], list[Hold] | None]:
    """A reservation `placement` (services/inventory/reserving.py) for a ship group: the
    holds of the channel's strategy run over what the scope has, or None when it cannot
    place every unit."""
    address = group.recipient.address if group.recipient else None
    country = address.country if address else None
    destination = (
        Destination(address.lat, address.lon)
        if address is not None and address.lat is not None and address.lon is not None
        else None
    )
    wanted = [RoutingItem(sku, units) for sku, units in items.items()]
    routing = RoutingPolicy(
        strategy=policy.routing_strategy.value, max_splits=policy.max_splits, allow_partial=False
    )
    locations: list[Any] = []

    def place(available: Available) -> list[Hold] | None:
        if not locations:  # read once, on the first plan
            locations.extend(routing_repo.ship_location_rows(session, policy.location_group_id))
        free = {(loc, sku): units for sku, places in available.items() for loc, units in places}
        candidates = [
            Candidate(
                location_id=loc.id,
                lat=loc.lat,
                lon=loc.lon,
                available={
                    sku: units for sku in items if (units := free.get((loc.id, sku), 0)) > 0
                },
                shipping=shipping_cost(loc.shipping_costs or (), country, currency),
            )
            for loc in locations
        ]
        result = route(wanted, candidates, destination, routing)
        holds = [Hold(a.sku, a.location_id, a.quantity) for a in result.allocations]
        placed: dict[str, int] = {}
        for hold in holds:
            placed[hold.sku] = placed.get(hold.sku, 0) + hold.quantity
        return holds if result.complete and placed == dict(items) else None

    return place
