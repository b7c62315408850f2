"""Where a delivery group's units could come from (DESIGN.md §6): the candidate locations
(the pickup store, or the channel's locations that can ship, never one that rejected the
group), what each can give, and the channel's strategy run over them. Routing a round
(routing/route.py) and a reship's replacement units (service_actions) both plan here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import routing as repo
from openoms.domain.fulfillment import FulfillmentOrderStatus
from openoms.domain.order import DeliveryMethod
from openoms.domain.routing import (
    Candidate,
    Destination,
    RoutingItem,
    RoutingPolicy,
    RoutingResult,
    ShippingCost,
    route,
)
from openoms.services.orders import ChannelPolicy, ShortagePolicy, channel_policy, shipping_cost


@dataclass(slots=True)
class OrderLookups:
    """What every group of one order reads alike, read once per transaction."""

    policy: ChannelPolicy | None = None
    ship_locations: list[m.Location] | None = None


def rejected_locations(fulfillment_orders: Sequence[m.FulfillmentOrder]) -> set[str]:
    """Locations that rejected a fulfillment order of the group: never candidates again."""
    return {
        fo.location_id
        for fo in fulfillment_orders
        if fo.status == FulfillmentOrderStatus.REJECTED.value
    }


def plan_route(
    session: Session,
    summary: m.OrderSummary,
    group: m.OrderDeliveryGroupSummary,
    wanted: Mapping[str, int],
    own: Mapping[tuple[str, str], int],
    rejected: set[str],
    *,
    allow_partial: bool | None = None,
    shared: OrderLookups | None = None,
) -> tuple[ChannelPolicy, dict[str, m.Location], RoutingResult]:
    """Run the channel's strategy for `wanted` units (SKU → units) of the group over its
    candidate locations, each offering its free stock plus the `own` units held there.
    `allow_partial` defaults to the channel's shortage policy. Shared with reships
    (services/service_actions/reship_routing.py), which route replacement units by the same
    rules. `shared`, when given, keeps the channel's policy and ship locations for the
    order's other groups routed in the same transaction."""
    if shared is None:
        shared = OrderLookups()
    if shared.policy is None:
        shared.policy = channel_policy(session, summary.channel)
    policy = shared.policy
    locations = _candidate_locations(session, group, policy, rejected, shared)
    if allow_partial is None:
        allow_partial = policy.shortage_policy is ShortagePolicy.BACKORDER
    result = route(
        [RoutingItem(sku, units) for sku, units in wanted.items()],
        _candidates(session, locations, group, summary.currency, wanted, own),
        _destination(group),
        RoutingPolicy(
            # An order's own strategy (a flow's `set_routing_strategy`) wins over its channel's.
            strategy=summary.routing_strategy or policy.routing_strategy.value,
            max_splits=policy.max_splits,
            allow_partial=allow_partial,
        ),
    )
    return policy, locations, result


def _candidate_locations(
    session: Session,
    group: m.OrderDeliveryGroupSummary,
    policy: ChannelPolicy,
    rejected: set[str],
    shared: OrderLookups,
) -> dict[str, m.Location]:
    """Pickup: only the pickup store. Ship: the channel's active locations that can ship.
    Never a location that rejected a fulfillment order of this group."""
    if group.method == DeliveryMethod.PICKUP.value:
        store = repo.location_by_ref(session, group.pickup_location or "")
        found = [store] if store is not None and store.active else []
    else:
        if shared.ship_locations is None:
            shared.ship_locations = repo.ship_locations(session, policy.location_group_id)
        found = shared.ship_locations
    return {loc.id: loc for loc in found if loc.id not in rejected}


def _candidates(
    session: Session,
    locations: Mapping[str, m.Location],
    group: m.OrderDeliveryGroupSummary,
    currency: str,
    wanted: Mapping[str, int],
    own: Mapping[tuple[str, str], int],
) -> list[Candidate]:
    """Each location with what it can give: its free stock plus the order's own units there."""
    free = repo.available_to_fulfill(session, list(locations), list(wanted))
    candidates = []
    for location_id, location in locations.items():
        available = {
            sku: units
            for sku in wanted
            if (units := free.get((location_id, sku), 0) + own.get((location_id, sku), 0)) > 0
        }
        candidates.append(
            Candidate(
                location_id=location_id,
                lat=location.lat,
                lon=location.lon,
                available=available,
                shipping=_shipping_cost(location, group.country, currency),
            )
        )
    return candidates


def _shipping_cost(location: m.Location, country: str | None, currency: str) -> ShippingCost | None:
    """The location's rate to the country in the order's currency, else its "*" rate."""
    return shipping_cost(location.shipping_costs, country, currency)


def _destination(group: m.OrderDeliveryGroupSummary) -> Destination | None:
    if group.method == DeliveryMethod.PICKUP.value or group.lat is None or group.lon is None:
        return None
    return Destination(group.lat, group.lon)
