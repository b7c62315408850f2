"""Reserve a captured order's stock (DESIGN.md §5): each delivery group where its method can
be served, in the capture's own transaction — a ship group at the active locations of the
channel's location group that can ship (the very candidates routing will weigh), a pickup
group at its pickup store. Under reject, a ship group's units are held where the channel's
strategy ships them from (capture_placement.py), so routing usually moves nothing.

Under the reject policy a ship group is refused unless routing could place it: the units are
there in total (else 409 `insufficient_stock`) and at most max_splits + 1 of those locations
hold them all (else 409 `route_unavailable`), judged by the check every routing strategy
shares (`complete_route_exists`). Under backorder what can ship is held and the rest waits.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from openoms.adapters.db.repositories import inventory as inventory_repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import Conflict, DeliveryGroupInvalid
from openoms.domain.inventory import Shortfall
from openoms.domain.order import DeliveryMethod, ItemType, PricedOrder
from openoms.domain.routing import Candidate, RoutingItem, complete_route_exists
from openoms.services.inventory import Available, reserve
from openoms.services.orders.capture_placement import strategy_placement
from openoms.services.orders.channels import ChannelPolicy, ShortagePolicy

SYSTEM_OWNER = "system"


class RouteUnavailable(Conflict):
    """The stock is there in total, but spread over more locations than the channel lets
    one delivery group ship from (max_splits + 1)."""

    code = "route_unavailable"
    title = "No route within the channel's limits"


def group_reservation_key(summary_id: str, group_ref: str) -> str:
    """The idempotency key a delivery group's stock is reserved under at capture."""
    return f"order:{summary_id}:{group_ref}"


@dataclass(frozen=True, slots=True)
class GroupReservation:
    delivery_group: str
    reservation_id: str
    backordered: tuple[Shortfall, ...]


def reserve_order_stock(
    session: Session, outbox: Outbox, summary_id: str, priced: PricedOrder, policy: ChannelPolicy
) -> list[GroupReservation]:
    """One reservation per delivery group, keyed by order and group so a retry holds
    nothing twice. A shortage, or a ship group no route within max_splits could serve,
    rejects the order (InsufficientStock or RouteUnavailable rolls the capture back) unless
    the channel backorders, in which case what can ship is held and the rest reported."""
    partial = policy.shortage_policy is ShortagePolicy.BACKORDER
    results = []
    if len(priced.draft.delivery_groups) > 1:
        # Each group's holds are taken in (location, SKU) order, but one group after the
        # other: two orders whose groups meet at the same records in the other order would
        # deadlock. Such an order takes all its stock locks first, in that one order.
        inventory_repo.lock_stock_of_skus(
            session, {i.sku for i in priced.items if i.type is ItemType.PRODUCT}
        )
    for index, group in enumerate(priced.draft.delivery_groups):
        items = Counter[str]()
        for item in priced.items:
            if item.type is ItemType.PRODUCT and item.delivery_group == group.ref:
                items[item.sku] += item.quantity
        location_id = group_id = None
        check = placement = None
        if group.method is DeliveryMethod.PICKUP:
            location_id = _pickup_location_id(session, group.pickup_location, index)
        else:
            group_id = policy.location_group_id
            if not partial:
                check = _routable(items, policy, group.ref, index)
                placement = strategy_placement(session, policy, group, items, priced.draft.currency)
        scope = [location_id, group_id]
        request = json.dumps({"items": sorted(items.items()), "scope": scope}, sort_keys=True)
        result = reserve(
            session,
            outbox,
            owner=SYSTEM_OWNER,
            idempotency_key=group_reservation_key(summary_id, group.ref),
            request_hash=hashlib.sha256(request.encode()).hexdigest(),
            items=dict(items),
            order_summary_id=summary_id,
            allow_partial=partial,
            location_id=location_id,
            location_group_id=group_id,
            anywhere=location_id is None and group_id is None,
            can_ship=group.method is DeliveryMethod.SHIP,
            check=check,
            placement=placement,
        )
        results.append(GroupReservation(group.ref, result.reservation.id, result.shortfall))
    return results


def _routable(
    items: Counter[str], policy: ChannelPolicy, group_ref: str, index: int
) -> Callable[[Available], None]:
    """The reservation's check for a ship group under reject: RouteUnavailable unless at
    most max_splits + 1 of the locations offered hold every unit (a plain shortage is left
    to the reservation, which answers it with the shortfall per SKU)."""
    wanted = [RoutingItem(sku, units) for sku, units in items.items()]

    def check(available: Available) -> None:
        stock: dict[str, dict[str, int]] = defaultdict(dict)
        for sku, places in available.items():
            for location_id, units in places:
                stock[location_id][sku] = units
        candidates = [Candidate(loc, None, None, units) for loc, units in sorted(stock.items())]
        if complete_route_exists(wanted, candidates, policy.max_splits):
            return
        totals = {sku: sum(max(u, 0) for _, u in available.get(sku, ())) for sku in items}
        if any(totals[sku] < units for sku, units in items.items()):
            return  # a shortage: the reservation refuses it with the shortfall
        raise RouteUnavailable(
            f"delivery group '{group_ref}' cannot ship from at most {policy.max_splits + 1} "
            f"location(s) (channel '{policy.channel}', max_splits {policy.max_splits}): its "
            "units are in stock, but only spread over more locations that can ship",
            field=f"delivery_groups[{index}]",
            delivery_group=group_ref,
            max_splits=policy.max_splits,
        )

    return check


def _pickup_location_id(session: Session, ref: str | None, index: int) -> str:
    location = inventory_repo.location_by_ref(session, ref)
    field = f"delivery_groups[{index}].pickup_location"
    if location is None or not location.active:
        raise DeliveryGroupInvalid(
            f"pickup location '{ref}' is not an active location", field=field
        )
    if not location.can_pickup:
        raise DeliveryGroupInvalid(f"location '{ref}' does not offer pickup", field=field)
    return location.id
