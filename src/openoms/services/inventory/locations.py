"""Locations and location groups (DESIGN.md §5): upsert by ref, read, list, membership.

A location PUT names every group it belongs to; membership is set to exactly that list and
unknown groups are created. A group PUT may name its locations; membership is then set to
exactly those. Rows are claimed with INSERT … ON CONFLICT DO NOTHING, so two racing upserts
of a new ref end with one row and no error. Services flush, never commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import Location, LocationGroup, LocationGroupMember, utcnow
from openoms.adapters.db.session import dialect_insert
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import NotFound, ValidationFailed
from openoms.domain.events import DomainEvent
from openoms.domain.inventory import LocationType
from openoms.domain.money import Money

REF_MAX_LENGTH = 100
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
REF_RULE = "1 to 100 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"


class RefInvalid(ValidationFailed):
    code = "ref_invalid"
    title = "Reference is not valid"


class LocationNotFound(NotFound):
    code = "location_not_found"
    title = "Location not found"


class LocationGroupNotFound(NotFound):
    code = "location_group_not_found"
    title = "Location group not found"


class LocationUnknown(ValidationFailed):
    """A payload names a location that does not exist."""

    code = "location_unknown"
    title = "Unknown location"


class LocationGroupUnknown(ValidationFailed):
    """A payload names a location group that does not exist."""

    code = "location_group_unknown"
    title = "Unknown location group"


class ShippingCostInvalid(ValidationFailed):
    code = "shipping_cost_invalid"
    title = "Shipping cost is not valid"


def check_ref(ref: str, *, field: str = "ref", max_length: int = REF_MAX_LENGTH) -> str:
    """`ref` if it is a usable reference (it appears in URLs and CSV files), else RefInvalid."""
    if len(ref) > max_length or not _REF.fullmatch(ref):
        rule = REF_RULE.replace("100", str(max_length))
        raise RefInvalid(f"{ref!r} is not a valid reference: use {rule}", field=field)
    return ref


# --- input ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    region: str | None = None
    postal_code: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class ShippingCost:
    """What shipping from a location costs to `country` ("*": anywhere else)."""

    country: str
    per_shipment: Money
    per_unit: Money

    @property
    def currency(self) -> str:
        return self.per_shipment.currency

    def to_json(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "currency": self.currency,
            "per_shipment": self.per_shipment.minor,
            "per_unit": self.per_unit.minor,
        }


@dataclass(frozen=True, slots=True)
class LocationData:
    """Everything a location PUT sets (a PUT replaces: what is left out is reset)."""

    name: str
    type: LocationType
    address: Address
    can_ship: bool
    can_pickup: bool
    active: bool = True
    daily_capacity: int | None = None
    shipping_costs: tuple[ShippingCost, ...] = ()
    groups: tuple[str, ...] = ()


def validate_location(ref: str, data: LocationData) -> None:
    """The checks that need no database: refs and shipping costs. Raises ValidationFailed."""
    check_ref(ref)
    for i, group in enumerate(data.groups):
        check_ref(group, field=f"groups[{i}]")
    seen: set[tuple[str, str]] = set()
    for i, cost in enumerate(data.shipping_costs):
        if cost.per_unit.currency != cost.currency:
            raise ShippingCostInvalid(
                "per_shipment and per_unit must be in one currency", field=f"shipping_costs[{i}]"
            )
        if cost.per_shipment.minor < 0 or cost.per_unit.minor < 0:
            raise ShippingCostInvalid("costs cannot be negative", field=f"shipping_costs[{i}]")
        key = (cost.country, cost.currency)
        if key in seen:
            raise ShippingCostInvalid(
                f"{cost.country}/{cost.currency} is listed twice", field=f"shipping_costs[{i}]"
            )
        seen.add(key)


# --- locations --------------------------------------------------------------------------


def upsert_location(
    session: Session, outbox: Outbox, ref: str, data: LocationData
) -> tuple[Location, bool]:
    """Create or replace the location `ref`; its group membership becomes exactly
    `data.groups` (unknown groups are created). Returns (location, created). Records
    `location.upserted` when anything changed (and `location_group.upserted` per new group)."""
    validate_location(ref, data)
    values = _columns(data)
    location = _lock_location(session, ref)
    created = False
    if location is None:
        created = _claim(session, Location, ref, values)
        location = _lock_location(session, ref)
        assert location is not None
    changed = created or apply_changes(location, values)
    wanted = sorted(set(data.groups))
    groups, new_groups = _ensure_groups(session, wanted)
    before = location_group_refs(session, [location.id]).get(location.id, [])
    _set_membership_of_location(session, location.id, [g.id for g in groups])
    session.flush()
    events = [_group_event(session, g, True) for g in groups if g.ref in new_groups]
    if changed or before != wanted:
        events.append(_location_event(location, wanted, created))
    outbox.record(session, events)
    return location, created


def get_location(session: Session, ref: str) -> Location:
    location = session.scalar(select(Location).where(Location.ref == ref))
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
    query = select(Location).order_by(Location.ref)
    if type is not None:
        query = query.where(Location.type == LocationType(type).value)
    if active is not None:
        query = query.where(Location.active.is_(active))
    if can_ship is not None:
        query = query.where(Location.can_ship.is_(can_ship))
    if can_pickup is not None:
        query = query.where(Location.can_pickup.is_(can_pickup))
    if group is not None:
        query = (
            query.join(LocationGroupMember, LocationGroupMember.location_id == Location.id)
            .join(LocationGroup, LocationGroup.id == LocationGroupMember.group_id)
            .where(LocationGroup.ref == group)
        )
    return list(session.scalars(query))


def location_group_refs(session: Session, location_ids: Iterable[str]) -> dict[str, list[str]]:
    """location id → the refs of its groups, sorted (locations in no group are absent)."""
    ids = list(location_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(LocationGroupMember.location_id, LocationGroup.ref)
        .join(LocationGroup, LocationGroup.id == LocationGroupMember.group_id)
        .where(LocationGroupMember.location_id.in_(ids))
        .order_by(LocationGroup.ref)
    )
    refs: dict[str, list[str]] = {}
    for location_id, group_ref in rows:
        refs.setdefault(location_id, []).append(group_ref)
    return refs


# FOR NO KEY UPDATE: serialises upserts of one ref, yet lets a racing membership insert
# check its foreign key (FOR KEY SHARE) without a deadlock.
def _lock_location(session: Session, ref: str) -> Location | None:
    return session.scalar(
        select(Location).where(Location.ref == ref).with_for_update(key_share=True)
    )


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


# --- groups -----------------------------------------------------------------------------


def upsert_group(
    session: Session,
    outbox: Outbox,
    ref: str,
    *,
    name: str,
    locations: Sequence[str] | None = None,
) -> tuple[LocationGroup, bool]:
    """Create or rename the group `ref`. With `locations`, its membership becomes exactly
    those (every one must exist: LocationUnknown otherwise); without, membership is kept.
    Returns (group, created); records `location_group.upserted` when anything changed."""
    check_ref(ref)
    members = _resolve_locations(session, locations) if locations is not None else None
    group = _lock_group(session, ref)
    created = False
    if group is None:
        created = _claim(session, LocationGroup, ref, {"name": name})
        group = _lock_group(session, ref)
        assert group is not None
    changed = created or group.name != name
    if group.name != name:
        group.name = name
    if members is not None:
        current = set(_member_ids(session, group.id))
        wanted = {location.id for location in members}
        changed = changed or current != wanted
        session.execute(
            delete(LocationGroupMember).where(
                LocationGroupMember.group_id == group.id,
                LocationGroupMember.location_id.not_in(wanted),
            )
        )
        _insert_members(session, [(group.id, location_id) for location_id in wanted - current])
    session.flush()
    if changed:
        outbox.record(session, [_group_event(session, group, created)])
    return group, created


def get_group(session: Session, ref: str) -> tuple[LocationGroup, list[str]]:
    """The group and its member location refs, sorted."""
    group = session.scalar(select(LocationGroup).where(LocationGroup.ref == ref))
    if group is None:
        raise LocationGroupNotFound(f"no location group {ref!r}", ref=ref)
    return group, member_refs(session, [group.id]).get(group.id, [])


def list_groups(session: Session) -> list[tuple[LocationGroup, list[str]]]:
    """Every group by ref, each with its member location refs."""
    groups = list(session.scalars(select(LocationGroup).order_by(LocationGroup.ref)))
    members = member_refs(session, [g.id for g in groups])
    return [(g, members.get(g.id, [])) for g in groups]


def member_refs(session: Session, group_ids: Iterable[str]) -> dict[str, list[str]]:
    """group id → the refs of its member locations, sorted."""
    ids = list(group_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(LocationGroupMember.group_id, Location.ref)
        .join(Location, Location.id == LocationGroupMember.location_id)
        .where(LocationGroupMember.group_id.in_(ids))
        .order_by(Location.ref)
    )
    refs: dict[str, list[str]] = {}
    for group_id, location_ref in rows:
        refs.setdefault(group_id, []).append(location_ref)
    return refs


def group_locations(session: Session, group_id: str, *, active_only: bool = True) -> list[Location]:
    """A group's member locations by ref (only the active ones unless told otherwise)."""
    query = (
        select(Location)
        .join(LocationGroupMember, LocationGroupMember.location_id == Location.id)
        .where(LocationGroupMember.group_id == group_id)
        .order_by(Location.ref)
    )
    if active_only:
        query = query.where(Location.active.is_(True))
    return list(session.scalars(query))


def _lock_group(session: Session, ref: str) -> LocationGroup | None:
    return session.scalar(
        select(LocationGroup).where(LocationGroup.ref == ref).with_for_update(key_share=True)
    )


def _member_ids(session: Session, group_id: str) -> list[str]:
    return list(
        session.scalars(
            select(LocationGroupMember.location_id).where(LocationGroupMember.group_id == group_id)
        )
    )


def _resolve_locations(session: Session, refs: Sequence[str]) -> list[Location]:
    found = {
        loc.ref: loc for loc in session.scalars(select(Location).where(Location.ref.in_(refs)))
    }
    for i, ref in enumerate(refs):
        if ref not in found:
            raise LocationUnknown(f"no location {ref!r}", field=f"locations[{i}]")
    return [found[ref] for ref in dict.fromkeys(refs)]


def _ensure_groups(session: Session, refs: list[str]) -> tuple[list[LocationGroup], set[str]]:
    """The groups named by `refs`, creating (named after their ref) those that are missing;
    also the refs this call created."""
    if not refs:
        return [], set()
    existing = set(session.scalars(select(LocationGroup.ref).where(LocationGroup.ref.in_(refs))))
    created = {
        r for r in refs if r not in existing and _claim(session, LocationGroup, r, {"name": r})
    }
    groups = session.scalars(select(LocationGroup).where(LocationGroup.ref.in_(refs)))
    return list(groups), created


def _set_membership_of_location(session: Session, location_id: str, group_ids: list[str]) -> None:
    session.execute(
        delete(LocationGroupMember).where(
            LocationGroupMember.location_id == location_id,
            LocationGroupMember.group_id.not_in(group_ids),
        )
    )
    _insert_members(session, [(group_id, location_id) for group_id in group_ids])


def _group_event(session: Session, group: LocationGroup, created: bool) -> DomainEvent:
    return DomainEvent(
        name="location_group.upserted",
        aggregate_type="location_group",
        aggregate_id=group.id,
        payload={
            "ref": group.ref,
            "name": group.name,
            "created": created,
            "locations": member_refs(session, [group.id]).get(group.id, []),
        },
    )


# --- rows -------------------------------------------------------------------------------

_ID_PREFIX = {Location: "loc", LocationGroup: "lg"}


def _claim(
    session: Session, model: type[Location] | type[LocationGroup], ref: str, values: dict[str, Any]
) -> bool:
    """Insert the row for `ref` with `values` unless one exists (or a racing transaction
    commits one first: ON CONFLICT waits for it); True when this call created it."""
    table = model.__table__
    assert isinstance(table, Table)
    now = utcnow()
    stamps = {"created_at": now} | ({"updated_at": now} if "updated_at" in table.c else {})
    statement = (
        dialect_insert(session, table)
        .values(id=new_id(_ID_PREFIX[model]), ref=ref, **values, **stamps)
        .on_conflict_do_nothing(index_elements=["ref"])
        .returning(table.c.id)
    )
    return session.execute(statement).scalar() is not None


def _insert_members(session: Session, pairs: Sequence[tuple[str, str]]) -> None:
    if not pairs:
        return
    table = LocationGroupMember.__table__
    assert isinstance(table, Table)
    statement = dialect_insert(session, table).on_conflict_do_nothing()
    session.execute(statement, [{"group_id": g, "location_id": loc} for g, loc in pairs])
