"""Location groups (DESIGN.md §5): upsert by ref, read, list, membership.

A group PUT may name its locations; membership is then set to exactly those. Rows are
claimed with INSERT … ON CONFLICT DO NOTHING, so two racing upserts of a new ref end with
one row and no error. Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from openoms.adapters.db.models import Location, LocationGroup
from openoms.adapters.db.repositories import inventory as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.events import DomainEvent
from openoms.services.inventory.location_data import (
    LocationGroupNotFound,
    LocationUnknown,
    check_ref,
)


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
    group = repo.lock_group(session, ref)
    created = False
    if group is None:
        created = repo.claim_ref(session, LocationGroup, ref, {"name": name})
        group = repo.lock_group(session, ref)
        assert group is not None
    changed = created or group.name != name
    if group.name != name:
        group.name = name
    if members is not None:
        current = set(repo.member_ids(session, group.id))
        wanted = {location.id for location in members}
        changed = changed or current != wanted
        repo.remove_group_members_except(session, group.id, wanted)
        repo.insert_members(session, [(group.id, location_id) for location_id in wanted - current])
    session.flush()
    if changed:
        outbox.record(session, [group_event(session, group, created)])
    return group, created


def get_group(session: Session, ref: str) -> tuple[LocationGroup, list[str]]:
    """The group and its member location refs, sorted."""
    group = repo.group_by_ref(session, ref)
    if group is None:
        raise LocationGroupNotFound(f"no location group {ref!r}", ref=ref)
    return group, member_refs(session, [group.id]).get(group.id, [])


def list_groups(session: Session) -> list[tuple[LocationGroup, list[str]]]:
    """Every group by ref, each with its member location refs."""
    groups = repo.all_groups(session)
    members = member_refs(session, [g.id for g in groups])
    return [(g, members.get(g.id, [])) for g in groups]


def member_refs(session: Session, group_ids: Iterable[str]) -> dict[str, list[str]]:
    """group id → the refs of its member locations, sorted."""
    ids = list(group_ids)
    if not ids:
        return {}
    refs: dict[str, list[str]] = {}
    for group_id, location_ref in repo.member_refs_of_groups(session, ids):
        refs.setdefault(group_id, []).append(location_ref)
    return refs


def ensure_groups(session: Session, refs: list[str]) -> tuple[list[LocationGroup], set[str]]:
    """The groups named by `refs`, creating (named after their ref) those that are missing;
    also the refs this call created."""
    if not refs:
        return [], set()
    existing = repo.existing_group_refs(session, refs)
    created = {
        r
        for r in refs
        if r not in existing and repo.claim_ref(session, LocationGroup, r, {"name": r})
    }
    return repo.groups_by_refs(session, refs), created


def group_event(session: Session, group: LocationGroup, created: bool) -> DomainEvent:
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


def _resolve_locations(session: Session, refs: Sequence[str]) -> list[Location]:
    found = {loc.ref: loc for loc in repo.locations_by_refs(session, refs)}
    for i, ref in enumerate(refs):
        if ref not in found:
            raise LocationUnknown(f"no location {ref!r}", field=f"locations[{i}]")
    return [found[ref] for ref in dict.fromkeys(refs)]
