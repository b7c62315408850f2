"""What a routing decision writes: one ALLOCATED fulfillment order per chosen location, the
items' allocated counters, and the events `fulfillment_order.created` and
`order_summary.routed` / `order_summary.partially_routed`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import routing as repo
from openoms.domain.errors import QuantityInvariantViolated
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import CATEGORY, RESHIP, FulfillmentOrderStatus
from openoms.domain.quantities import ItemQuantities
from openoms.domain.routing import RoutingResult
from openoms.services.orders import item_quantities

Lines = list[m.FulfillmentOrderLineItem]


def create_fulfillment_orders(
    session: Session,
    summary: m.OrderSummary,
    group: m.OrderDeliveryGroupSummary,
    items: Sequence[m.OrderItemSummary],
    result: RoutingResult,
    held_in: Mapping[str, str | None],
    *,
    round: int,
    now: datetime,
    fo_type: str = "standard",
    reship_units: Mapping[str, int] | None = None,
) -> list[tuple[m.FulfillmentOrder, Lines]]:
    """One ALLOCATED fulfillment order per chosen location; each SKU's units go to the
    group's items of that SKU in order, each allocated through ItemQuantities (which refuses
    more than is available to fulfill). `fo_type` "reship" marks replacement goods: their
    units come from `reship_units` (item id → units) and leave the items' counters alone,
    which count the original units only (quantity_reshipped was raised by the reship)."""
    quantities = {item.id: item_quantities(item) for item in items}
    replacing = dict(reship_units or {}) if fo_type == RESHIP else None
    by_sku: dict[str, list[m.OrderItemSummary]] = defaultdict(list)
    for item in items:
        by_sku[item.sku].append(item)
    created = []
    for location_id in result.locations:
        fo = m.FulfillmentOrder(
            id=new_id("fo"),
            order_summary_id=summary.id,
            delivery_group_summary_id=group.id,
            location_id=location_id,
            reservation_id=held_in.get(location_id),
            routing_round=round,
            type=fo_type,
            status=FulfillmentOrderStatus.ALLOCATED.value,
            reason=result.reason[:500],
            created_at=now,
            updated_at=now,
        )
        lines: Lines = []
        for a in result.allocations:
            if a.location_id == location_id:
                lines += _allocate(fo.id, a.sku, a.quantity, by_sku[a.sku], quantities, replacing)
        created.append((fo, lines))
    repo.insert_fulfillment_orders(session, created)
    if replacing is None:
        for item in items:
            item.quantity_allocated = quantities[item.id].allocated
    return created


def _allocate(
    fo_id: str,
    sku: str,
    units: int,
    items: Iterable[m.OrderItemSummary],
    quantities: dict[str, ItemQuantities],
    replacing: dict[str, int] | None = None,
) -> Lines:
    lines = []
    for item in items:
        open_units = (
            replacing.get(item.id, 0)
            if replacing is not None
            else quantities[item.id].available_to_fulfill
        )
        take = min(units, open_units)
        if take == 0:
            continue
        if replacing is not None:
            replacing[item.id] -= take
        else:
            quantities[item.id] = quantities[item.id].allocate(take)
        units -= take
        lines.append(
            m.FulfillmentOrderLineItem(
                id=new_id("foli"),
                fulfillment_order_id=fo_id,
                order_item_summary_id=item.id,
                sku=sku,
                original_quantity=take,
                quantity=take,
                shipped=0,
            )
        )
    if units:  # the strategy placed more than was asked: refuse, never over-allocate
        raise QuantityInvariantViolated(
            f"routing placed {units} more unit(s) of {sku} than are available to fulfill",
            sku=sku,
        )
    return lines


def created_event(
    fo: m.FulfillmentOrder,
    lines: Lines,
    group: m.OrderDeliveryGroupSummary,
    locations: Mapping[str, m.Location],
) -> DomainEvent:
    status = FulfillmentOrderStatus(fo.status)
    return DomainEvent(
        name="fulfillment_order.created",
        aggregate_type="fulfillment_order",
        aggregate_id=fo.id,
        order_summary_id=fo.order_summary_id,
        payload={
            "fulfillment_order_id": fo.id,
            "order_summary_id": fo.order_summary_id,
            "delivery_group_summary_id": group.id,
            "delivery_group": group.ref,
            "location_id": fo.location_id,
            "location": locations[fo.location_id].ref,
            "status": status.value,
            "status_category": CATEGORY[status].value,
            "routing_round": fo.routing_round,
            "reservation_id": fo.reservation_id,
            "lines": [
                {
                    "id": line.id,
                    "order_item_summary_id": line.order_item_summary_id,
                    "sku": line.sku,
                    "quantity": line.quantity,
                }
                for line in lines
            ],
        },
    )


def routed_event(
    summary: m.OrderSummary,
    group: m.OrderDeliveryGroupSummary,
    result: RoutingResult,
    fo_ids: list[str],
    round: int,
) -> DomainEvent:
    payload: dict[str, Any] = {
        "order_summary_id": summary.id,
        "delivery_group_summary_id": group.id,
        "delivery_group": group.ref,
        "routing_round": round,
        "strategy": result.strategy,
        "reason": result.reason,
        "fulfillment_order_ids": fo_ids,
        "status": summary.status,
    }
    if not result.complete:
        payload["waiting"] = [
            {"sku": sku, "quantity": units} for sku, units in sorted(result.shortfall.items())
        ]
    return DomainEvent(
        name="order_summary.routed" if result.complete else "order_summary.partially_routed",
        aggregate_type="order_summary",
        aggregate_id=summary.id,
        order_summary_id=summary.id,
        payload=payload,
    )
