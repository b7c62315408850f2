"""The console's inventory page: a SKU's availability per location and per location group
(the very figures of the API's get-availability) and the reservations holding it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.repositories.stock_views import (
    sku_reservation_lines,
    skus_with_records,
)
from openoms.services.inventory import answer_availability

PLACES_PER_ASK = 100  # get-availability's limit of locations and groups per request


def sku_availability(
    session: Session,
    sku: str,
    *,
    locations: Sequence[str],
    location_groups: Sequence[str],
    today: date,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(per location, per group) figures of `sku` — on_hand, reserved, safety_stock,
    available_to_fulfill, available_to_order — as get-availability answers them, asked in
    slices of its size limit."""
    per_location: list[dict[str, Any]] = []
    per_group: list[dict[str, Any]] = []
    for start in range(0, len(locations), PLACES_PER_ASK):
        answer = answer_availability(
            session, skus=[sku], locations=locations[start : start + PLACES_PER_ASK], today=today
        ).as_dict()
        per_location += [
            {"location": row["location"], **row["inventory_records"][0]}
            for row in answer["locations"]
        ]
    for start in range(0, len(location_groups), PLACES_PER_ASK):
        answer = answer_availability(
            session,
            skus=[sku],
            location_groups=location_groups[start : start + PLACES_PER_ASK],
            today=today,
        ).as_dict()
        per_group += [
            {"location_group": row["location_group"], **row["inventory_records"][0]}
            for row in answer["location_groups"]
        ]
    return per_location, per_group


def sku_reservations(
    session: Session,
    sku: str,
    *,
    locations: Collection[str] | None,
    after_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The reservation lines holding units of `sku` now, at `locations` when given (refs), in
    line order after `after_id`: ask for one more than a page to know whether another
    follows."""
    rows = sku_reservation_lines(
        session, sku, location_refs=locations, after_id=after_id, limit=limit
    )
    return [
        {
            "line_id": line.id,
            "reservation_id": reservation.id,
            "status": reservation.status,
            "order_summary_id": reservation.order_summary_id,
            "location": ref,
            "quantity": line.quantity,
            "fulfilled": line.fulfilled,
            "released": line.released,
            "expires_at": _iso(reservation.expires_at),
            "created_at": _iso(reservation.created_at),
        }
        for line, reservation, ref in rows
    ]


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def known_skus(
    session: Session, *, locations: Collection[str] | None, after: str | None, limit: int
) -> list[str]:
    """The SKUs with stock records (at `locations` when given, refs), alphabetically after
    `after`: ask for one more than a page to know whether another follows."""
    return skus_with_records(session, location_refs=locations, after_sku=after, limit=limit)
