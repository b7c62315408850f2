"""Locations (DESIGN.md §5): upsert by ref, read, list, and the groups each belongs to.

A location PUT names every group it belongs to; membership is set to exactly that list and
unknown groups are created. Rows are claimed with INSERT … ON CONFLICT DO NOTHING, so two
racing upserts of a new ref end with one row and no error. Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.models import Location
from openoms.adapters.db.repositories import inventory as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.events import DomainEvent
from openoms.domain.inventory import LocationType
from openoms.services.inventory.location_data import (
    LocationData,
    LocationNotFound,
    validate_location,
)
from openoms.services.inventory.location_groups import ensure_groups, group_event


def upsert_location(
    session: Session, outbox: Outbox, ref: str, data: LocationData
) -> tuple[Location, bool]:
    """Create or replace the location `ref`; its group membership becomes exactly
    `data.groups` (unknown groups are created). Returns (location, created). Records
    `location.upserted` when anything changed (and `location_group.upserted` per new group)."""
    validate_location(ref, data)
    values = _columns(data)
    location = repo.lock_location(session, ref)
    created = False
    if location is None:
        created = repo.claim_ref(session, Location, ref, values)
        location = repo.lock_location(session, ref)
        assert location is not None
    changed = created or apply_changes(location, values)
    wanted = sorted(set(data.groups))
    groups, new_groups = ensure_groups(session, wanted)
    before = location_group_refs(session, [location.id]).get(location.id, [])
    group_ids = [g.id for g in groups]
    repo.remove_location_groups_except(session, location.id, group_ids)
    repo.insert_members(session, [(group_id, location.id) for group_id in group_ids])
    session.flush()
    events = [group_event(session, g, True) for g in groups if g.ref in new_groups]
    if changed or before != wanted:
        events.append(_location_event(location, wanted, created))
    outbox.record(session, events)
    return location, created


def get_location(session: Session, ref: str) -> Location:
    location = repo.location_by_ref(session, ref)
    if location is None:
        raise LocationNotFound(f"no location {ref!r}", ref=ref)
    return location


def list_locations(
    session: Session,
    *,
    type: LocationType | str | None = None,
    group: str | None = None,
    active: bool | None = None,
    can_ship: bool | None = None,
    can_pickup: bool | None = None,
) -> list[Location]:
    """Locations by ref, filtered; an unknown group matches nothing."""
    return repo.list_locations(
        session,
        type=None if type is None else LocationType(type).value,
        group=group,
        active=active,
        can_ship=can_ship,
        can_pickup=can_pickup,
    )


def location_group_refs(session: Session, location_ids: Iterable[str]) -> dict[str, list[str]]:
    """location id → the refs of its groups, sorted (locations in no group are absent)."""
    ids = list(location_ids)
    if not ids:
        return {}
    refs: dict[str, list[str]] = {}
    for location_id, group_ref in repo.group_refs_of_locations(session, ids):
        refs.setdefault(location_id, []).append(group_ref)
    return refs


def _columns(data: LocationData) -> dict[str, Any]:
    return {
        "name": data.name,
        "type": data.type.value,
        "address_line1": data.address.line1,
        "city": data.address.city,
        "region": data.address.region,
        "postal_code": data.address.postal_code,
        "country": data.address.country,
        "lat": data.address.lat,
        "lon": data.address.lon,
        "can_ship": data.can_ship,
        "can_pickup": data.can_pickup,
        "active": data.active,
        "daily_capacity": data.daily_capacity,
        "shipping_costs": [cost.to_json() for cost in data.shipping_costs],
    }


def apply_changes(row: object, values: dict[str, Any]) -> bool:
    """Set the columns of `row` whose value differs (so an identical PUT leaves updated_at
    alone); True if any did."""
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    for name in changed:
        setattr(row, name, values[name])
    return bool(changed)


def _location_event(location: Location, groups: list[str], created: bool) -> DomainEvent:
    return DomainEvent(
        name="location.upserted",
        aggregate_type="location",
        aggregate_id=location.id,
        payload={
            "ref": location.ref,
            "created": created,
            "type": location.type,
            "active": location.active,
            "can_ship": location.can_ship,
            "can_pickup": location.can_pickup,
            "groups": groups,
        },
    )
