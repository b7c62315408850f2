"""Inventory math (DESIGN.md §5): availability per record and per group, and how a
reservation against a group is spread over the group's locations. Pure: no session, no clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from openoms.domain.errors import Conflict, IllegalTransition

DEFAULT_FUTURES_HORIZON = timedelta(days=30)


class LocationType(StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"
    THREE_PL = "3pl"
    DROPSHIP = "dropship"


@dataclass(frozen=True, slots=True)
class Future:
    """Stock expected to arrive: counts toward available_to_order within the horizon."""

    quantity: int
    expected_date: date


@dataclass(frozen=True, slots=True)
class Stock:
    on_hand: int = 0
    reserved: int = 0
    safety_stock: int = 0
    futures: tuple[Future, ...] = ()

    @property
    def available_to_fulfill(self) -> int:
        return self.on_hand - self.reserved - self.safety_stock

    def available_to_order(self, today: date, horizon: timedelta = DEFAULT_FUTURES_HORIZON) -> int:
        incoming = sum(f.quantity for f in self.futures if f.expected_date <= today + horizon)
        return self.available_to_fulfill + incoming

    def __add__(self, other: Stock) -> Stock:
        return Stock(
            self.on_hand + other.on_hand,
            self.reserved + other.reserved,
            self.safety_stock + other.safety_stock,
            self.futures + other.futures,
        )


def group_stock(members: Iterable[Stock]) -> Stock:
    """A location group's stock is the sum of its members'."""
    total = Stock()
    for stock in members:
        total = total + stock
    return total


@dataclass(frozen=True, slots=True)
class Shortfall:
    sku: str
    requested: int
    available: int


class InsufficientStock(Conflict):
    """A reservation that cannot be met in full: nothing is reserved."""

    code = "insufficient_stock"
    title = "Not enough stock"

    def __init__(self, shortfall: Sequence[Shortfall]) -> None:
        detail = "; ".join(
            f"{s.sku}: {s.requested} requested, {max(s.available, 0)} available"
            for s in shortfall
        )
        super().__init__(
            f"not enough stock — {detail}",
            shortfall=[
                {"sku": s.sku, "requested": s.requested, "available": max(s.available, 0)}
                for s in shortfall
            ],
        )
        self.shortfall = tuple(shortfall)


@dataclass(frozen=True, slots=True)
class Hold:
    """Units of one SKU to hold at one location."""

    sku: str
    location_id: str
    quantity: int


def plan_holds(
    requested: Mapping[str, int], available: Mapping[str, Sequence[tuple[str, int]]]
) -> list[Hold]:
    """Spread each SKU's requested quantity over locations, deepest stock first.

    `available[sku]` lists (location_id, available_to_fulfill). All or nothing: if any SKU
    cannot be met in full, raise InsufficientStock naming every short SKU. Ties on depth go
    to the lower location id, so the plan is deterministic.
    """
    holds: list[Hold] = []
    short: list[Shortfall] = []
    for sku, quantity in requested.items():
        candidates = sorted(
            ((loc, atf) for loc, atf in available.get(sku, ()) if atf > 0),
            key=lambda c: (-c[1], c[0]),
        )
        total = sum(atf for _, atf in candidates)
        if total < quantity:
            short.append(Shortfall(sku, quantity, total))
            continue
        left = quantity
        for location_id, atf in candidates:
            take = min(atf, left)
            holds.append(Hold(sku, location_id, take))
            left -= take
            if left == 0:
                break
    if short:
        raise InsufficientStock(short)
    return holds


class ReservationStatus(StrEnum):
    ACTIVE = "ACTIVE"
    FULFILLED = "FULFILLED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


# The one transition table of the reservation lifecycle.
RESERVATION_TRANSITIONS: dict[ReservationStatus, frozenset[ReservationStatus]] = {
    ReservationStatus.ACTIVE: frozenset(
        {ReservationStatus.FULFILLED, ReservationStatus.RELEASED, ReservationStatus.EXPIRED}
    ),
    ReservationStatus.FULFILLED: frozenset(),
    ReservationStatus.RELEASED: frozenset(),
    ReservationStatus.EXPIRED: frozenset(),
}


def check_reservation_transition(current: ReservationStatus, target: ReservationStatus) -> None:
    if target not in RESERVATION_TRANSITIONS[current]:
        raise IllegalTransition(
            f"a reservation that is {current.value} cannot become {target.value}",
            current=current.value,
            target=target.value,
        )
