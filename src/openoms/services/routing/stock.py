"""Put a routing decision's stock where it ships from (DESIGN.md §5, §6).

A delivery group's units are held by its reservation from capture. Units of it that no live
fulfillment order uses are the order's own: routing counts them as available wherever they
sit, and moves them to the locations it chose. Each chosen location takes its units first
from what the group already holds there, then from its own units elsewhere (locations not
chosen first). A location that needs more than the order holds anywhere (a backorder whose
stock arrived, units given back after a rejection) gets one fresh reservation for all its
units, taken over from the group's reservation, so every fulfillment order ships from
exactly one reservation.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.orm import Session

from openoms.adapters.db.models import FulfillmentOrder, Reservation
from openoms.adapters.db.repositories import routing as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.fulfillment import FulfillmentOrderStatus
from openoms.domain.inventory import ReservationStatus
from openoms.domain.routing import Allocation
from openoms.services.inventory import release_held, reserve, transfer_held
from openoms.services.orders import SYSTEM_OWNER, group_reservation_key

Units = dict[str, int]  # SKU → units
K = TypeVar("K")
# Fulfillment orders whose units are no longer the order's to move.
_NOT_LIVE = frozenset({FulfillmentOrderStatus.REJECTED, FulfillmentOrderStatus.CANCELED})


@dataclass(frozen=True, slots=True)
class StockPlan:
    """transfers: (to location, from location) → units moved within the group's reservation;
    releases: from location → units the group's reservation gives up to a fresh hold;
    fresh: location → every unit it ships, held by a new reservation."""

    transfers: dict[tuple[str, str], Units] = field(default_factory=dict)
    releases: dict[str, Units] = field(default_factory=dict)
    fresh: dict[str, Units] = field(default_factory=dict)


def own_units(
    reservation: Reservation | None, fulfillment_orders: Iterable[FulfillmentOrder]
) -> dict[tuple[str, str], int]:
    """(location id, SKU) → units the group's reservation holds there that no live
    fulfillment order of it still has to ship."""
    if reservation is None or reservation.status != ReservationStatus.ACTIVE:
        return {}
    own: dict[tuple[str, str], int] = defaultdict(int)
    for line in reservation.lines:
        own[line.location_id, line.sku] += line.quantity
    for fo in fulfillment_orders:
        if fo.reservation_id != reservation.id or fo.status in _NOT_LIVE:
            continue
        for fo_line in fo.lines:
            own[fo.location_id, fo_line.sku] -= fo_line.quantity - fo_line.shipped
    return {key: units for key, units in own.items() if units > 0}


def plan_stock(
    own: Mapping[tuple[str, str], int], allocations: Sequence[Allocation], *, complete: bool
) -> StockPlan:
    """Where each allocated unit comes from (pure; see the module docstring). Once the
    group is `complete`ly placed, own units left over are given back: nothing will use them."""
    pool = dict(own)
    chosen = {a.location_id for a in allocations}
    local: dict[tuple[str, str], int] = {}
    need: dict[tuple[str, str], int] = {}
    for a in allocations:
        key = (a.location_id, a.sku)
        local[key] = min(a.quantity, pool.get(key, 0))
        pool[key] = pool.get(key, 0) - local[key]
        need[key] = a.quantity - local[key]
    moves: list[tuple[str, str, str, int]] = []  # (to, from, sku, units)
    short: set[str] = set()
    holders: dict[str, list[str]] = {}  # sku -> locations in the pool (one pass, not one a need)
    for src, sku in pool:
        holders.setdefault(sku, []).append(src)
    for (to, sku), wanted in need.items():
        sources = sorted(
            (src for src in holders.get(sku, ()) if pool[src, sku] > 0 and src != to),
            key=lambda src: (src in chosen, src),
        )
        for src in sources:
            if wanted == 0:
                break
            take = min(pool[src, sku], wanted)
            pool[src, sku] -= take
            wanted -= take
            moves.append((to, src, sku, take))
        if wanted:
            short.add(to)
    plan = StockPlan()
    for a in allocations:
        if a.location_id in short:
            _add(plan.fresh, a.location_id, a.sku, a.quantity)
            if local[a.location_id, a.sku]:
                _add(plan.releases, a.location_id, a.sku, local[a.location_id, a.sku])
    for to, src, sku, units in moves:
        if to in short:
            _add(plan.releases, src, sku, units)
        else:
            _add(plan.transfers, (to, src), sku, units)
    if complete:
        for (src, sku), left in sorted(pool.items()):
            if left > 0:
                _add(plan.releases, src, sku, left)
    return plan


def _add(table: dict[K, Units], key: K, sku: str, units: int) -> None:
    row = table.setdefault(key, {})
    row[sku] = row.get(sku, 0) + units


def rejected_holds(
    fulfillment_orders: Iterable[FulfillmentOrder], reservation: Reservation | None
) -> list[str]:
    """Fresh reservations of rejected fulfillment orders: each held one location's units
    for one fulfillment order, which its location will not ship."""
    group_reservation = reservation.id if reservation is not None else None
    return sorted(
        {
            fo.reservation_id
            for fo in fulfillment_orders
            if fo.status == FulfillmentOrderStatus.REJECTED
            and fo.reservation_id not in (None, group_reservation)
        }
    )


def hold_stock(
    session: Session,
    outbox: Outbox,
    reservation: Reservation | None,
    plan: StockPlan,
    *,
    order_summary_id: str,
    fresh_key: Callable[[str], str],
    stale: Sequence[Reservation] = (),
) -> dict[str, str]:
    """Carry out the plan: transfers, then releases, then fresh reservations (keyed by
    `fresh_key(location_id)`); the `stale` reservations of rejected fulfillment orders
    give back what they still hold. Returns location id → the fresh reservation holding
    its units (the other locations' units sit in the group's reservation). `reservation`
    and `stale` must be row-locked with their lines loaded in this transaction, and the
    plan's target locations read as active in it (routing's candidates). A race for
    stock raises InsufficientStock; the caller rolls the whole plan back."""
    for old in stale:
        if old.status == ReservationStatus.ACTIVE and any(line.quantity for line in old.lines):
            release_held(session, outbox, old)
    held_in: dict[str, str] = {}
    for (to, src), items in plan.transfers.items():
        assert reservation is not None
        transfer_held(
            session,
            outbox,
            reservation,
            to_location_id=to,
            items=items,
            from_location_id=src,
            target_active=True,  # a routing candidate: read as active in this transaction
        )
    for src, items in plan.releases.items():
        assert reservation is not None
        release_held(session, outbox, reservation, items=items, location_id=src)
    for location_id, items in plan.fresh.items():
        request = json.dumps({"items": sorted(items.items()), "location": location_id})
        result = reserve(
            session,
            outbox,
            owner=SYSTEM_OWNER,
            idempotency_key=fresh_key(location_id),
            request_hash=hashlib.sha256(request.encode()).hexdigest(),
            items=items,
            location_id=location_id,
            order_summary_id=order_summary_id,
        )
        held_in[location_id] = result.reservation.id
    return held_in


def release_group_holds(
    session: Session,
    outbox: Outbox,
    summary_id: str,
    group_ref: str,
    fulfillment_orders: Sequence[FulfillmentOrder],
    wanted: Mapping[str, int],
    *,
    why: Mapping[str, str] | None = None,
) -> int:
    """Give back what the group's capture reservation holds, and no live fulfillment order
    uses, beyond `wanted` (SKU → units the group still has to route), location by location
    (by id). With nothing wanted, what its rejected fulfillment orders' reservations still
    hold goes too (routing would otherwise free it). `why` goes into each
    `reservation.released` event. Call it under the order summary's lock; returns the units
    given back."""
    key = group_reservation_key(summary_id, group_ref)
    reservation = repo.lock_reservation(session, SYSTEM_OWNER, key)
    released = 0
    if reservation is not None:
        excess = _excess(own_units(reservation, fulfillment_orders), wanted)
        for location_id, items in excess.items():
            release_held(session, outbox, reservation, items, location_id, why=why)
            released += sum(items.values())
    if any(wanted.values()):
        return released
    stale_ids = rejected_holds(fulfillment_orders, reservation)
    for stale in repo.lock_reservations(session, stale_ids):
        held = sum(line.quantity for line in stale.lines)
        if stale.status == ReservationStatus.ACTIVE and held:
            release_held(session, outbox, stale, why=why)
            released += held
    return released


def _excess(own: Mapping[tuple[str, str], int], wanted: Mapping[str, int]) -> dict[str, Units]:
    """location id → SKU → units of `own` beyond `wanted`, taken location by location."""
    held: dict[str, int] = defaultdict(int)
    for (_, sku), n in own.items():
        held[sku] += n
    excess = {sku: n - wanted.get(sku, 0) for sku, n in held.items() if n > wanted.get(sku, 0)}
    by_location: dict[str, Units] = {}
    for (location_id, sku), n in sorted(own.items()):
        take = min(n, excess.get(sku, 0))
        if take:
            _add(by_location, location_id, sku, take)
            excess[sku] -= take
    return by_location
