"""Queries of the console's inventory page (services/views/inventory.py): the reservation
lines that hold a SKU."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m


def sku_reservation_lines(
    session: Session,
    sku: str,
    *,
    location_refs: Collection[str] | None,
    after_id: int | None,
    limit: int,
) -> list[tuple[m.ReservationLine, m.Reservation, str]]:
    """(line, reservation, location ref) of the lines holding units of `sku` now (quantity
    > 0), at `location_refs` when given: in line id order after `after_id`, at most `limit`."""
    line, reservation = m.ReservationLine, m.Reservation
    query: Any = (
        select(line, reservation, m.Location.ref)
        .join(reservation, reservation.id == line.reservation_id)
        .join(m.Location, m.Location.id == line.location_id)
        .where(line.sku == sku, line.quantity > 0)
        .order_by(line.id)
        .limit(limit)
    )
    if location_refs is not None:
        query = query.where(m.Location.ref.in_(list(location_refs)))
    if after_id is not None:
        query = query.where(line.id > after_id)
    return [(row[0], row[1], row[2]) for row in session.execute(query).all()]


def skus_with_records(
    session: Session, *, location_refs: Collection[str] | None, after_sku: str | None, limit: int
) -> list[str]:
    """The SKUs with an inventory record (at `location_refs` when given), alphabetically
    after `after_sku`, at most `limit`."""
    record = m.InventoryRecord
    query: Any = select(record.sku).distinct().order_by(record.sku).limit(limit)
    if location_refs is not None:
        query = query.join(m.Location, m.Location.id == record.location_id).where(
            m.Location.ref.in_(list(location_refs))
        )
    if after_sku is not None:
        query = query.where(record.sku > after_sku)
    return list(session.scalars(query))
