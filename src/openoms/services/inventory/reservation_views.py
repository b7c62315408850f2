"""Reservations as the API shows them (locations and groups by ref), and the refs an API
request names resolved to ids (LocationNotFound / LocationGroupNotFound when unknown)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.models import Reservation
from openoms.adapters.db.repositories import inventory as repo
from openoms.services.inventory.location_data import LocationGroupNotFound, LocationNotFound
from openoms.services.inventory.reservation_common import iso


def reservation_view(session: Session, reservation: Reservation) -> dict[str, Any]:
    """The public body of a reservation: locations and groups by ref."""
    location_ids = {line.location_id for line in reservation.lines}
    if reservation.location_id:
        location_ids.add(reservation.location_id)
    refs = repo.location_refs(session, location_ids)
    group_ref = (
        repo.group_ref(session, reservation.location_group_id)
        if reservation.location_group_id
        else None
    )
    return reservation_body(reservation, refs, group_ref)


def reservation_body(
    reservation: Reservation, refs: Mapping[str, str], group_ref: str | None = None
) -> dict[str, Any]:
    """`reservation_view` from refs already known (location id → ref): no query."""
    return {
        "id": reservation.id,
        "status": reservation.status,
        "location_group": group_ref,
        "location": refs[reservation.location_id] if reservation.location_id else None,
        "order_summary_id": reservation.order_summary_id,
        "items": [
            {
                "sku": line.sku,
                "location": refs[line.location_id],
                "quantity": line.quantity,
                "fulfilled": line.fulfilled,
                "released": line.released,
            }
            for line in reservation.lines
            # A hold whose units were all transferred away says nothing: leave it out.
            if line.quantity or line.fulfilled or line.released
        ],
        "expires_at": iso(reservation.expires_at),
        "created_at": iso(reservation.created_at),
        "updated_at": iso(reservation.updated_at),
    }


def location_id_by_ref(session: Session, ref: str) -> str:
    return location_ids_by_ref(session, {ref})[ref]


def location_ids_by_ref(session: Session, refs: set[str]) -> dict[str, str]:
    found = repo.location_ids_by_ref(session, refs)
    for ref in sorted(refs - found.keys()):
        raise LocationNotFound(f"no location {ref!r}", ref=ref)
    return found


def group_id_by_ref(session: Session, ref: str) -> str:
    group_id = repo.group_id(session, ref)
    if group_id is None:
        raise LocationGroupNotFound(f"no location group {ref!r}", ref=ref)
    return group_id
