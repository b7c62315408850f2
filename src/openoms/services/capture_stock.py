"""Reserve a captured order's stock (DESIGN.md §5): each delivery group against the channel's
location group (ship) or its pickup store (pickup), in the capture's own transaction."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from openoms.adapters.db.models import Location
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import DeliveryGroupInvalid
from openoms.domain.inventory import Shortfall
from openoms.domain.order import DeliveryMethod, ItemType, PricedOrder
from openoms.services.channels import ChannelPolicy, ShortagePolicy
from openoms.services.reservations import reserve

SYSTEM_OWNER = "system"


@dataclass(frozen=True, slots=True)
class GroupReservation:
    delivery_group: str
    reservation_id: str
    backordered: tuple[Shortfall, ...]


def reserve_order_stock(
    session: Session, outbox: Outbox, summary_id: str, priced: PricedOrder, policy: ChannelPolicy
) -> list[GroupReservation]:
    """One reservation per delivery group, keyed by order and group so a retry holds
    nothing twice. A shortage rejects the order (InsufficientStock rolls the capture back)
    unless the channel backorders, in which case what is there is held and the rest reported."""
    partial = policy.shortage_policy is ShortagePolicy.BACKORDER
    results = []
    for index, group in enumerate(priced.draft.delivery_groups):
        items = Counter[str]()
        for item in priced.items:
            if item.type is ItemType.PRODUCT and item.delivery_group == group.ref:
                items[item.sku] += item.quantity
        location_id = group_id = None
        if group.method is DeliveryMethod.PICKUP:
            location_id = _pickup_location_id(session, group.pickup_location, index)
        else:
            group_id = policy.location_group_id
        scope = [location_id, group_id]
        request = json.dumps({"items": sorted(items.items()), "scope": scope}, sort_keys=True)
        result = reserve(
            session,
            outbox,
            owner=SYSTEM_OWNER,
            idempotency_key=f"order:{summary_id}:{group.ref}",
            request_hash=hashlib.sha256(request.encode()).hexdigest(),
            items=dict(items),
            order_summary_id=summary_id,
            allow_partial=partial,
            location_id=location_id,
            location_group_id=group_id,
            anywhere=location_id is None and group_id is None,
        )
        results.append(GroupReservation(group.ref, result.reservation.id, result.shortfall))
    return results


def _pickup_location_id(session: Session, ref: str | None, index: int) -> str:
    location = session.scalar(select(Location).where(Location.ref == ref))
    field = f"delivery_groups[{index}].pickup_location"
    if location is None or not location.active:
        raise DeliveryGroupInvalid(
            f"pickup location '{ref}' is not an active location", field=field
        )
    if not location.can_pickup:
        raise DeliveryGroupInvalid(f"location '{ref}' does not offer pickup", field=field)
    return location.id
