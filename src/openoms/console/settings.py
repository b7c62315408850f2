"""Settings, for admins: channels and their policies, locations (settings_access.py: API
keys, webhook endpoints and flows). Every change runs the service the API's PUT runs, in one
transaction; a refused one shows the page again with the API's sentence beside its form
and changes nothing.

A channel's form edits what a person sets by hand (its location group, shortage policy,
routing strategy, split limit, capture policy, refund-eligible status and authorization
check) and keeps its money thresholds (returnless threshold, return fee), which the API
sets. A location's form edits everything but its shipping costs, which it keeps."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.console.auth import Visitor
from openoms.console.params import Admin, AdminAction, Db, Done
from openoms.console.render import page
from openoms.domain.errors import DomainError, ValidationFailed
from openoms.domain.inventory import LocationType
from openoms.domain.money import Money, format_minor
from openoms.domain.returns import REFUND_ELIGIBLE_STATUSES, ReturnOrderStatus
from openoms.services.inventory import (
    Address,
    LocationData,
    ShippingCost,
    get_location,
    list_groups,
    list_locations,
    location_group_refs,
    upsert_location,
)
from openoms.services.orders import (
    CapturePolicy,
    ChannelData,
    RoutingStrategy,
    ShortagePolicy,
    list_channels,
    policy_of,
    threshold_strings,
    upsert_channel,
)

router = APIRouter(prefix="/console")
Ref = Annotated[str, Path(max_length=100)]
Short = Annotated[str, Form(max_length=200)]
Flag = Annotated[str, Form(max_length=10)]
MAX_SPLITS = 100  # as the API's channel schema
MAX_CAPACITY = 2**31 - 1

SECTIONS = (
    ("Channels", "/console/settings/channels", "policies: stock, routing, capture, returns"),
    ("Locations", "/console/settings/locations", "warehouses, stores, 3PLs and their groups"),
    ("API keys", "/console/settings/api-keys", "keys, their scopes and channel binding"),
    ("Webhook endpoints", "/console/settings/webhooks", "where events are sent, deliveries"),
    ("Flows", "/console/settings/flows", "automation: definitions and runs"),
)
DONE = {
    "channel": "The channel's policy is saved.",
    "location": "The location is saved.",
}


@router.get("/settings", response_class=HTMLResponse, include_in_schema=False)
def settings_home(request: Request, visitor: Admin) -> HTMLResponse:
    return page(request, "settings.html", visitor, title="Settings", sections=SECTIONS)


# --- channels ---------------------------------------------------------------------------


@router.get("/settings/channels", response_class=HTMLResponse, include_in_schema=False)
def channels(request: Request, visitor: Admin, db: Db, done: Done = "") -> HTMLResponse:
    """Every configured channel with its policy, each with its form."""
    return channels_page(request, visitor, db, notice=DONE.get(done, ""))


def channels_page(
    request: Request,
    visitor: Visitor,
    db: Database,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> HTMLResponse:
    with db.reading() as session:
        policies = [policy_of(session, channel) for channel in list_channels(session)]
        groups = [group.ref for group, _ in list_groups(session)]
    rows = [
        {
            "policy": policy,
            "returnless_threshold": threshold_strings(policy.returnless_threshold),
            "return_fee": threshold_strings(policy.return_fee),
        }
        for policy in policies
    ]
    return page(
        request,
        "settings_channels.html",
        visitor,
        status_code=status_code,
        title="Channels",
        rows=rows,
        groups=groups,
        shortage_policies=[p.value for p in ShortagePolicy],
        strategies=[s.value for s in RoutingStrategy],
        capture_policies=[p.value for p in CapturePolicy],
        refund_statuses=sorted(s.value for s in REFUND_ELIGIBLE_STATUSES),
        errors=errors or {},
        notice=notice,
    )


@router.post("/settings/channels/{ref}", include_in_schema=False)
def save_channel(
    request: Request,
    ref: Ref,
    visitor: AdminAction,
    db: Db,
    location_group: Short = "",
    shortage_policy: Short = "",
    routing_strategy: Short = "",
    max_splits: Short = "",
    capture_policy: Short = "",
    refund_eligible_status: Short = "",
    verify_authorizations: Flag = "",
) -> Response:
    """Replace the channel's policy (the API's PUT /channels/{ref}), keeping its money
    thresholds."""
    try:
        with db.transaction() as session:
            current = {c.ref: c for c in list_channels(session)}.get(ref)
            kept = policy_of(session, current) if current is not None else None
            data = ChannelData(
                location_group=location_group or None,
                shortage_policy=_choice(ShortagePolicy, shortage_policy, "shortage_policy"),
                routing_strategy=_choice(RoutingStrategy, routing_strategy, "routing_strategy"),
                max_splits=_whole(max_splits, "max_splits", MAX_SPLITS),
                capture_policy=_choice(CapturePolicy, capture_policy, "capture_policy"),
                returnless_threshold=_amounts(kept.returnless_threshold if kept else {}),
                return_fee=_amounts(kept.return_fee if kept else {}),
                refund_eligible_status=_choice(
                    ReturnOrderStatus, refund_eligible_status, "refund_eligible_status"
                ),
                verify_authorizations=verify_authorizations == "on",
            )
            upsert_channel(session, _outbox(request), ref, data)
    except DomainError as exc:
        return channels_page(request, visitor, db, status_code=exc.status, errors={ref: exc.detail})
    return RedirectResponse(f"/console/settings/channels?done=channel#channel-{ref}", 303)


def _choice(kind: Any, value: str, field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        raise ValidationFailed(f"{field} must be one of {allowed}", field=field) from None


def _whole(value: str, field: str, most: int) -> int:
    text = value.strip()
    if not text.isdigit() or len(text) > 10 or int(text) > most:
        raise ValidationFailed(f"{field} must be a whole number from 0 to {most}", field=field)
    return int(text)


def _amounts(minor_by_currency: Any) -> tuple[Money, ...]:
    return tuple(Money(minor, currency) for currency, minor in minor_by_currency.items())


# --- locations --------------------------------------------------------------------------


@router.get("/settings/locations", response_class=HTMLResponse, include_in_schema=False)
def locations(request: Request, visitor: Admin, db: Db, done: Done = "") -> HTMLResponse:
    """Every location with its groups, and the form for a new one."""
    with db.reading() as session:
        found = list_locations(session)
        groups = location_group_refs(session, [loc.id for loc in found])
        rows = [{"location": loc, "groups": groups.get(loc.id, [])} for loc in found]
    return page(
        request,
        "settings_locations.html",
        visitor,
        title="Locations",
        rows=rows,
        notice=DONE.get(done, ""),
    )


@router.get("/settings/new-location", response_class=HTMLResponse, include_in_schema=False)
def new_location(request: Request, visitor: Admin) -> HTMLResponse:
    """The form for a new location."""
    return _location_form(request, visitor, {})


@router.get("/settings/locations/{ref}", response_class=HTMLResponse, include_in_schema=False)
def location(request: Request, ref: Ref, visitor: Admin, db: Db) -> HTMLResponse:
    """One location's form."""
    with db.reading() as session:
        try:
            found = get_location(session, ref)
        except DomainError as exc:
            return _location_form(request, visitor, {}, status_code=exc.status, error=exc.detail)
        groups = location_group_refs(session, [found.id]).get(found.id, [])
    values = {
        "ref": found.ref,
        "name": found.name,
        "type": found.type,
        "line1": found.address_line1 or "",
        "city": found.city or "",
        "region": found.region or "",
        "postal_code": found.postal_code or "",
        "country": found.country or "",
        "lat": "" if found.lat is None else str(found.lat),
        "lon": "" if found.lon is None else str(found.lon),
        "can_ship": found.can_ship,
        "can_pickup": found.can_pickup,
        "active": found.active,
        "daily_capacity": "" if found.daily_capacity is None else str(found.daily_capacity),
        "groups": ", ".join(groups),
        "shipping_costs": found.shipping_costs,
    }
    return _location_form(request, visitor, values)


def _location_form(
    request: Request,
    visitor: Visitor,
    values: dict[str, Any],
    *,
    status_code: int = 200,
    error: str = "",
) -> HTMLResponse:
    return page(
        request,
        "settings_location.html",
        visitor,
        status_code=status_code,
        title=f"Location {values['ref']}" if values.get("ref") else "New location",
        v=values,
        types=[t.value for t in LocationType],
        error=error,
        money=format_minor,
    )


@router.post("/settings/locations", include_in_schema=False)
def save_location(
    request: Request,
    visitor: AdminAction,
    db: Db,
    ref: Annotated[str, Form(max_length=100)] = "",
    name: Annotated[str, Form(max_length=300)] = "",
    type: Short = "",
    line1: Annotated[str, Form(max_length=300)] = "",
    city: Short = "",
    region: Short = "",
    postal_code: Annotated[str, Form(max_length=40)] = "",
    country: Annotated[str, Form(max_length=2)] = "",
    lat: Annotated[str, Form(max_length=40)] = "",
    lon: Annotated[str, Form(max_length=40)] = "",
    can_ship: Flag = "",
    can_pickup: Flag = "",
    active: Flag = "",
    daily_capacity: Annotated[str, Form(max_length=12)] = "",
    groups: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Create or replace a location (the API's PUT /locations/{ref}), keeping its shipping
    costs."""
    values: dict[str, Any] = {
        "ref": ref,
        "name": name,
        "type": type,
        "line1": line1,
        "city": city,
        "region": region,
        "postal_code": postal_code,
        "country": country,
        "lat": lat,
        "lon": lon,
        "can_ship": can_ship == "on",
        "can_pickup": can_pickup == "on",
        "active": active == "on",
        "daily_capacity": daily_capacity,
        "groups": groups,
    }
    try:
        with db.transaction() as session:
            data = _location_data(values, _kept_costs(session, ref))
            upsert_location(session, _outbox(request), ref, data)
    except DomainError as exc:
        return _location_form(request, visitor, values, status_code=exc.status, error=exc.detail)
    return RedirectResponse("/console/settings/locations?done=location", 303)


def _kept_costs(session: Any, ref: str) -> tuple[ShippingCost, ...]:
    found = {loc.ref: loc for loc in list_locations(session)}.get(ref)
    if found is None:
        return ()
    return tuple(
        ShippingCost(
            country=cost["country"],
            per_shipment=Money(cost["per_shipment"], cost["currency"]),
            per_unit=Money(cost["per_unit"], cost["currency"]),
        )
        for cost in found.shipping_costs
    )


def _location_data(v: dict[str, Any], costs: tuple[ShippingCost, ...]) -> LocationData:
    for field, label in (("name", "name"), ("line1", "address line 1"), ("city", "city")):
        if not v[field].strip():
            raise ValidationFailed(f"{label} is required", field=field)
    for field in ("name", "line1", "city", "region", "postal_code", "groups"):
        if any(ch in v[field] for ch in "\r\n\x00"):
            raise ValidationFailed(f"{field} must be a single line of text", field=field)
    country = v["country"].strip().upper()
    if len(country) != 2 or not country.isalpha():
        raise ValidationFailed("country must be a two-letter ISO code such as GB", field="country")
    return LocationData(
        name=v["name"].strip(),
        type=_choice(LocationType, v["type"], "type"),
        address=Address(
            line1=v["line1"].strip(),
            city=v["city"].strip(),
            country=country,
            region=v["region"].strip() or None,
            postal_code=v["postal_code"].strip() or None,
            lat=_coordinate(v["lat"], "lat", 90),
            lon=_coordinate(v["lon"], "lon", 180),
        ),
        can_ship=v["can_ship"],
        can_pickup=v["can_pickup"],
        active=v["active"],
        daily_capacity=(
            _whole(v["daily_capacity"], "daily_capacity", MAX_CAPACITY)
            if v["daily_capacity"].strip()
            else None
        ),
        shipping_costs=costs,
        groups=tuple(g.strip() for g in v["groups"].split(",") if g.strip()),
    )


def _coordinate(text: str, field: str, bound: int) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -bound <= value <= bound:  # NaN fails too
        raise ValidationFailed(f"{field} must be a number from -{bound} to {bound}", field=field)
    return value


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox
