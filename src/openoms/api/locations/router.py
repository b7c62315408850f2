"""Locations, location groups and channels: PUT by ref (admin), read by any scope.

A PUT is idempotent by nature (the same body twice leaves the same state and records no
second event), so it needs no Idempotency-Key. Refs are matched as `path` so a ref holding
a slash is answered 400 `ref_invalid` rather than 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from openoms.adapters.db.session import Database
from openoms.api.auth import require_scope
from openoms.api.deps import get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.domain.inventory import LocationType
from openoms.schemas.locations import (
    Channel,
    ChannelList,
    ChannelUpsert,
    Location,
    LocationGroup,
    LocationGroupList,
    LocationGroupUpsert,
    LocationList,
    LocationUpsert,
)
from openoms.services import channels as channel_adapters
from openoms.services import inventory as locations
from openoms.services import orders as channels
from openoms.services.access import Principal, Scope

router = APIRouter(prefix="/api/v1", tags=["locations"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "A business rule is broken (stable `code`, `field`).",
        401: "No valid API key.",
        403: "The API key lacks the scope.",
        404: "No such ref.",
        422: "The payload does not match the schema.",
    }.items()
}
CREATED: dict[int | str, dict[str, Any]] = {
    201: {"description": "Created."},
    200: {"description": "Replaced."},
}

Admin = Annotated[Principal, Depends(require_scope(Scope.ADMIN))]
Reader = Annotated[
    Principal, Depends(require_scope(Scope.STOREFRONT, Scope.AGENT, Scope.WAREHOUSE))
]
Db = Annotated[Database, Depends(get_db)]


# --- locations --------------------------------------------------------------------------


@router.put("/locations/{ref:path}", response_model=Location, responses={**CREATED, **PROBLEMS})
def put_location(
    ref: str, payload: LocationUpsert, request: Request, response: Response, _: Admin, db: Db
) -> Location:
    """Create or replace a location. Its group membership becomes exactly `groups`
    (unknown groups are created). 201 when created, 200 when replaced; records
    `location.upserted` when anything changed."""
    data = payload.to_data()
    with db.transaction() as session:
        location, created = locations.upsert_location(session, request.app.state.outbox, ref, data)
        groups = locations.location_group_refs(session, [location.id]).get(location.id, [])
        body = Location.of(location, groups)
    response.status_code = 201 if created else 200
    return body


@router.get("/locations/{ref:path}", response_model=Location, responses=PROBLEMS)
def get_location(ref: str, _: Reader, db: Db) -> Location:
    """One location with the refs of its groups."""
    with db.reading() as session:
        location = locations.get_location(session, ref)
        groups = locations.location_group_refs(session, [location.id]).get(location.id, [])
        return Location.of(location, groups)


@router.get("/locations", response_model=LocationList, responses=PROBLEMS)
def list_locations(
    _: Reader,
    db: Db,
    type: Annotated[LocationType | None, Query(description="Only this type.")] = None,
    group: Annotated[str | None, Query(description="Only members of this group.")] = None,
    active: bool | None = None,
    can_ship: bool | None = None,
    can_pickup: bool | None = None,
) -> LocationList:
    """Locations by ref, filtered (every filter given must hold)."""
    with db.reading() as session:
        rows = locations.list_locations(
            session,
            type=type,
            group=group,
            active=active,
            can_ship=can_ship,
            can_pickup=can_pickup,
        )
        groups = locations.location_group_refs(session, [r.id for r in rows])
        return LocationList(items=[Location.of(r, groups.get(r.id, [])) for r in rows])


# --- groups -----------------------------------------------------------------------------


@router.put(
    "/location-groups/{ref:path}",
    response_model=LocationGroup,
    responses={**CREATED, **PROBLEMS},
)
def put_location_group(
    ref: str,
    payload: LocationGroupUpsert,
    request: Request,
    response: Response,
    _: Admin,
    db: Db,
) -> LocationGroup:
    """Create or rename a location group; with `locations`, set its members to exactly
    those. 201 when created, 200 otherwise; records `location_group.upserted`."""
    with db.transaction() as session:
        group, created = locations.upsert_group(
            session,
            request.app.state.outbox,
            ref,
            name=payload.name,
            locations=payload.locations,
        )
        members = locations.member_refs(session, [group.id]).get(group.id, [])
        body = LocationGroup.of(group, members)
    response.status_code = 201 if created else 200
    return body


@router.get("/location-groups/{ref:path}", response_model=LocationGroup, responses=PROBLEMS)
def get_location_group(ref: str, _: Reader, db: Db) -> LocationGroup:
    """One location group with its member location refs."""
    with db.reading() as session:
        return LocationGroup.of(*locations.get_group(session, ref))


@router.get("/location-groups", response_model=LocationGroupList, responses=PROBLEMS)
def list_location_groups(_: Reader, db: Db) -> LocationGroupList:
    """Every location group by ref, with its member location refs."""
    with db.reading() as session:
        return LocationGroupList(
            items=[LocationGroup.of(g, refs) for g, refs in locations.list_groups(session)]
        )


# --- channels ---------------------------------------------------------------------------


@router.put("/channels/{ref:path}", response_model=Channel, responses={**CREATED, **PROBLEMS})
def put_channel(
    ref: str, payload: ChannelUpsert, request: Request, response: Response, _: Admin, db: Db
) -> Channel:
    """Set a channel's policy (a field left out takes the default). An unknown
    `location_group` is 400 `location_group_unknown`. Records `channel.upserted`.
    `adapter` names the platform its orders come from (docs/channels.md): left out, the
    stored adapter is kept; null removes it; its secrets are write-only (never answered);
    a refused adapter is 400 `channel_adapter_invalid` and nothing is stored."""
    data = payload.to_data()
    with db.transaction() as session:
        channel, created = channels.upsert_channel(session, request.app.state.outbox, ref, data)
        if "adapter" in payload.model_fields_set:
            adapter = payload.adapter.to_settings() if payload.adapter else None
            channel_adapters.set_adapter(session, channel.ref, adapter)
        body = Channel.of(
            channels.policy_of(session, channel),
            channel.updated_at,
            channel_adapters.adapter_view(session, channel.ref),
        )
    response.status_code = 201 if created else 200
    return body


@router.get("/channels/{ref:path}", response_model=Channel, responses=PROBLEMS)
def get_channel(ref: str, _: Reader, db: Db) -> Channel:
    """A channel's policy. A channel nobody configured is 404 `channel_not_found`, naming
    the configured ones in `known_channels`: it has no policy, and orders naming it are
    refused."""
    with db.reading() as session:
        channel = channels.configured_channel(session, ref)
        return Channel.of(
            channels.policy_of(session, channel),
            channel.updated_at,
            channel_adapters.adapter_view(session, channel.ref),
        )


@router.get("/channels", response_model=ChannelList, responses=PROBLEMS)
def list_channels(_: Reader, db: Db) -> ChannelList:
    """Every configured channel by ref."""
    with db.reading() as session:
        return ChannelList(
            items=[
                Channel.of(
                    channels.policy_of(session, c),
                    c.updated_at,
                    channel_adapters.adapter_view(session, c.ref),
                )
                for c in channels.list_channels(session)
            ]
        )
