"""What reserving and changing reservations share: errors, the checks of a request, the
shortfall, the events' payloads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from openoms.adapters.db.models import Reservation
from openoms.adapters.db.repositories import reservations as repo
from openoms.domain.errors import (
    Conflict,
    NotFound,
    QuantityInvalid,
    QuantityInvariantViolated,
    ValidationFailed,
)
from openoms.domain.events import DomainEvent
from openoms.domain.inventory import Hold, Shortfall
from openoms.services.inventory.location_data import LocationNotFound

AGGREGATE = "reservation"
Available = repo.Available


# --- errors -------------------------------------------------------------------------------


class ReservationNotFound(NotFound):
    code = "reservation_not_found"
    title = "Reservation not found"


class ReservationInvalid(ValidationFailed):
    code = "reservation_invalid"
    title = "Reservation request is not valid"


class ExceedsReserved(Conflict):
    verb = "move"

    def __init__(self, sku: str, requested: int, held: int, location_id: str | None = None) -> None:
        where = f" at {location_id}" if location_id else ""
        extra: dict[str, Any] = {"sku": sku, "requested": requested, "held": held}
        if location_id:
            extra["location_id"] = location_id
        super().__init__(
            f"cannot {self.verb} {requested} of {sku}{where}: the reservation holds {held}",
            **extra,
        )


class TransferExceedsReserved(ExceedsReserved):
    code = "transfer_exceeds_reserved"
    title = "Transfer exceeds the units held"
    verb = "transfer"


class FulfillExceedsReserved(ExceedsReserved):
    code = "fulfill_exceeds_reserved"
    title = "Fulfillment exceeds the units held"
    verb = "fulfill"


class ReleaseExceedsReserved(ExceedsReserved):
    code = "release_exceeds_reserved"
    title = "Release exceeds the units held"
    verb = "release"


# --- helpers ---------------------------------------------------------------------------


def read_location(conn: Connection, location_id: str, skus: Sequence[str]) -> Available:
    available = repo.available_at_location(conn, location_id, skus)
    if available is None:
        raise LocationNotFound(f"no location {location_id!r}", location_id=location_id)
    return available


def find_shortfall(
    requested: Mapping[str, int],
    available: Mapping[str, Sequence[tuple[str, int]]],
    own: Iterable[Hold],
) -> list[Shortfall]:
    """Short SKUs, counting units this call already holds (`own`) as available to it."""
    totals = {sku: sum(max(atf, 0) for _, atf in available.get(sku, ())) for sku in requested}
    for hold in own:
        totals[hold.sku] += hold.quantity
    return [Shortfall(s, q, totals[s]) for s, q in requested.items() if totals[s] < q]


def check_items(items: Mapping[str, int]) -> dict[str, int]:
    if not items:
        raise ReservationInvalid("a reservation needs at least one item", field="items")
    return {sku: positive_units(sku, units) for sku, units in items.items()}


def positive_units(sku: str, units: int) -> int:
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise QuantityInvalid(f"quantity of {sku} must be a positive whole number", sku=sku)
    return units


def short_by_one(hold: Hold) -> Shortfall:
    # The conditional update refused, so at that instant fewer than `quantity` were free.
    return Shortfall(hold.sku, hold.quantity, hold.quantity - 1)


def out_of_step(hold: Hold, *, shipping: bool = False) -> QuantityInvariantViolated:
    # The record holds less than the reservation's lines say (or, shipping, has less on
    # hand than is being shipped): refuse rather than drive a figure negative.
    what = "on hand or reserved" if shipping else "reserved"
    return QuantityInvariantViolated(
        f"inventory record {hold.location_id}/{hold.sku} has less {what} than the "
        f"{hold.quantity} units this reservation holds there",
        sku=hold.sku,
        location_id=hold.location_id,
    )


def reservation_event(name: str, reservation: Reservation, payload: dict[str, Any]) -> DomainEvent:
    return DomainEvent(name, AGGREGATE, reservation.id, payload, reservation.order_summary_id)


def scope_payload(reservation: Reservation) -> dict[str, Any]:
    return {
        "reservation_id": reservation.id,
        "status": reservation.status,
        "location_group_id": reservation.location_group_id,
        "location_id": reservation.location_id,
    }


def hold_payload(sku: str, location_id: str, quantity: int) -> dict[str, Any]:
    return {"sku": sku, "location_id": location_id, "quantity": quantity}


def iso(value: datetime | None) -> str | None:
    """A timestamp as the API and events show it: ISO 8601 in UTC with `Z`."""
    return value.isoformat().replace("+00:00", "Z") if value else None
