"""Locations, location groups and channels (DESIGN.md §5, §12): PUT payloads and bodies.

Structure is checked here (422); amounts are parsed exactly by `to_data()` in the stated
currency, and refs and other rules are checked by the services (400 with a stable code).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from openoms.adapters.db import models as m
from openoms.domain.errors import CurrencyUnknown
from openoms.domain.inventory import LocationType
from openoms.domain.money import Money, currency_exponent, format_minor
from openoms.domain.returns import ReturnOrderStatus
from openoms.schemas.channel_adapters import ChannelAdapterIn, ChannelAdapterView
from openoms.schemas.common import LAX, UNSIGNED_AMOUNT_PATTERN, Identifier, Payload, Text
from openoms.services.inventory import Address, LocationData, ShippingCost
from openoms.services.orders import (
    CapturePolicy,
    ChannelData,
    ChannelPolicy,
    RoutingStrategy,
    ShortagePolicy,
    threshold_strings,
)

Amount = Annotated[
    str,
    Field(
        pattern=UNSIGNED_AMOUNT_PATTERN,
        description='Non-negative decimal string in the stated currency, e.g. "4.99".',
        examples=["4.99"],
    ),
]
Currency = Annotated[
    str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.", examples=["GBP"])
]
Ref = Annotated[
    Identifier,
    Field(
        min_length=1,
        max_length=100,
        description="A reference: letters, digits, '.', '_', ':' or '-'.",
        examples=["online"],
    ),
]


def _check_currency(currency: str, field: str) -> None:
    """CurrencyUnknown naming `field`, for a currency ISO 4217 does not list."""
    try:
        currency_exponent(currency)
    except CurrencyUnknown as exc:
        raise CurrencyUnknown(exc.detail, field=field) from None


# --- locations --------------------------------------------------------------------------


class LocationAddress(Payload):
    """Where a location is; `lat`/`lon` (both or neither) let routing rank by distance."""

    line1: Text = Field(min_length=1, max_length=300)
    city: Text = Field(min_length=1, max_length=200)
    region: Text | None = Field(default=None, max_length=200)
    postal_code: Text | None = Field(default=None, max_length=40)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code.")
    lat: float | None = Field(default=None, ge=-90, le=90, description="Latitude, degrees.")
    lon: float | None = Field(default=None, ge=-180, le=180, description="Longitude, degrees.")

    @model_validator(mode="after")
    def _both_coordinates(self) -> LocationAddress:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self


class ShippingCostIn(Payload):
    """What one shipment from the location costs: per_shipment + per_unit × units."""

    country: str = Field(
        pattern=r"^([A-Z]{2}|\*)$",
        description='Destination country (ISO alpha-2), or "*" for every other country.',
        examples=["GB", "*"],
    )
    currency: Currency
    per_shipment: Amount = Field(description="Fixed cost of one shipment.")
    per_unit: Amount = Field(default="0", description="Added cost for each unit shipped.")


class LocationUpsert(Payload):
    """A location: warehouse, store, 3PL or drop-ship vendor. PUT replaces it whole: a field
    left out takes its default (no groups, no shipping costs, no capacity)."""

    name: Text = Field(min_length=1, max_length=300, examples=["London warehouse"])
    type: Annotated[LocationType, LAX] = Field(description="warehouse, store, 3pl or dropship.")
    address: LocationAddress
    can_ship: bool = Field(description="Ships orders to customers.")
    can_pickup: bool = Field(description="Customers may collect orders here.")
    active: bool = Field(default=True, description="Inactive locations are never routed to.")
    daily_capacity: int | None = Field(
        default=None, ge=0, description="Fulfillment orders it can take per day; none: no limit."
    )
    shipping_costs: list[ShippingCostIn] = Field(
        default_factory=list,
        max_length=300,
        description='Cost of shipping from here, per destination country ("*": the rest).',
    )
    groups: list[Ref] = Field(
        default_factory=list,
        max_length=100,
        description="Refs of the location groups it belongs to, exactly: it leaves any other; "
        "groups that do not exist yet are created.",
        examples=[["online"]],
    )

    def to_data(self) -> LocationData:
        """The service input; shipping costs parsed exactly in their currency."""
        costs = []
        for i, cost in enumerate(self.shipping_costs):
            where = f"shipping_costs[{i}]"
            _check_currency(cost.currency, f"{where}.currency")
            costs.append(
                ShippingCost(
                    country=cost.country,
                    per_shipment=Money.parse(
                        cost.per_shipment, cost.currency, field=f"{where}.per_shipment"
                    ),
                    per_unit=Money.parse(cost.per_unit, cost.currency, field=f"{where}.per_unit"),
                )
            )
        a = self.address
        return LocationData(
            name=self.name,
            type=self.type,
            address=Address(
                line1=a.line1,
                city=a.city,
                country=a.country,
                region=a.region,
                postal_code=a.postal_code,
                lat=a.lat,
                lon=a.lon,
            ),
            can_ship=self.can_ship,
            can_pickup=self.can_pickup,
            active=self.active,
            daily_capacity=self.daily_capacity,
            shipping_costs=tuple(costs),
            groups=tuple(self.groups),
        )


class LocationImportLine(LocationUpsert):
    """One line of a locations import file: a location PUT body with its ref."""

    ref: Ref


class ShippingCostOut(BaseModel):
    country: str
    currency: str
    per_shipment: str
    per_unit: str


class LocationAddressOut(BaseModel):
    line1: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None
    lat: float | None
    lon: float | None


class Location(BaseModel):
    """A location as stored, with the refs of its groups."""

    ref: str
    name: str
    type: LocationType
    address: LocationAddressOut
    can_ship: bool
    can_pickup: bool
    active: bool
    daily_capacity: int | None
    shipping_costs: list[ShippingCostOut]
    groups: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: m.Location, groups: list[str]) -> Location:
        return cls(
            ref=row.ref,
            name=row.name,
            type=LocationType(row.type),
            address=LocationAddressOut(
                line1=row.address_line1,
                city=row.city,
                region=row.region,
                postal_code=row.postal_code,
                country=row.country,
                lat=row.lat,
                lon=row.lon,
            ),
            can_ship=row.can_ship,
            can_pickup=row.can_pickup,
            active=row.active,
            daily_capacity=row.daily_capacity,
            shipping_costs=[
                ShippingCostOut(
                    country=c["country"],
                    currency=c["currency"],
                    per_shipment=format_minor(c["per_shipment"], c["currency"]),
                    per_unit=format_minor(c["per_unit"], c["currency"]),
                )
                for c in row.shipping_costs
            ],
            groups=groups,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class LocationList(BaseModel):
    items: list[Location]


# --- groups -----------------------------------------------------------------------------


class LocationGroupUpsert(Payload):
    """A named set of locations (e.g. "online"); its availability is the members' sum."""

    name: Text = Field(min_length=1, max_length=300, examples=["Online fulfilment"])
    locations: list[Ref] | None = Field(
        default=None,
        max_length=10_000,
        description="Refs of its member locations, exactly (each must exist). Left out: "
        "membership is kept as it is.",
    )


class LocationGroup(BaseModel):
    ref: str
    name: str
    locations: list[str] = Field(description="Refs of its member locations, sorted.")
    created_at: datetime

    @classmethod
    def of(cls, row: m.LocationGroup, locations: list[str]) -> LocationGroup:
        return cls(ref=row.ref, name=row.name, locations=locations, created_at=row.created_at)


class LocationGroupList(BaseModel):
    items: list[LocationGroup]


# --- channels ---------------------------------------------------------------------------


class ChannelUpsert(Payload):
    """Where a channel's orders reserve and route, and what a shortage, a capture and a
    small return do. PUT replaces it whole: a field left out takes the default."""

    location_group: Ref | None = Field(
        default=None,
        description="Ref of the group its orders reserve and route against; none: every "
        "active location.",
    )
    shortage_policy: Annotated[ShortagePolicy, LAX] = Field(
        default=ShortagePolicy.REJECT,
        description="reject: refuse an order that cannot be reserved in full; "
        "backorder: take it and wait for stock.",
    )
    routing_strategy: Annotated[RoutingStrategy, LAX] = Field(
        default=RoutingStrategy.FEWEST_SPLITS, description="How orders are split over locations."
    )
    max_splits: int = Field(
        default=2, ge=0, le=100, description="Most extra shipments one delivery group may take."
    )
    capture_policy: Annotated[CapturePolicy, LAX] = Field(
        default=CapturePolicy.ON_SHIPMENT, description="When payments are captured."
    )
    returnless_threshold: dict[Currency, Amount] = Field(
        default_factory=dict,
        max_length=200,
        description="Per currency: items worth less are refunded without being sent back.",
        examples=[{"GBP": "5.00"}],
    )
    return_fee: dict[Currency, Amount] = Field(
        default_factory=dict,
        max_length=200,
        description="Per currency: a fee (tax included) invoiced once per return order when "
        "its returned units are refunded; it is taken from that refund.",
        examples=[{"GBP": "2.95"}],
    )
    refund_eligible_status: Literal["SUBMITTED", "APPROVED", "IN_TRANSIT", "RECEIVED", "CLOSED"] = (
        Field(
            default="RECEIVED",
            description="The return order status at which returned units are refunded: "
            "SUBMITTED, APPROVED or IN_TRANSIT refund the units expected back, RECEIVED or "
            "CLOSED the units received.",
        )
    )
    verify_authorizations: bool = Field(
        default=True,
        description="Check each authorization reported at capture (a payment with an "
        "authorization_reference) with its gateway before routing: one the gateway does not "
        "know, in another currency, for less or reversed raises a high-severity payment "
        "exception and the order waits unrouted until a retry verifies it.",
    )
    adapter: ChannelAdapterIn | None = Field(
        default=None,
        description="The platform the channel's orders come from (docs/channels.md). Left "
        "out: the stored adapter is kept; null: removed.",
    )

    routing_run_every: int | None = Field(
        default=None,
        ge=60,
        le=86400,
        description="Seconds between scheduled routing runs (scope `unreleased`, applied: "
        "docs/routing-runs.md); null: none.",
        examples=[300],
    )
    routing_lookahead_days: int | None = Field(
        default=None,
        ge=1,
        le=28,
        description="Routing runs look ahead: they also weigh the orders expected over the "
        "next hours, drawn from the channel's orders of the same hours on each of the last "
        "this many days, so scarce stock is left where those will need it "
        "(docs/routing-runs.md#look-ahead); null: off.",
        examples=[7],
    )

    def to_data(self) -> ChannelData:
        """The service input; thresholds and fees parsed exactly in their currency."""
        thresholds = _amounts(self.returnless_threshold, "returnless_threshold")
        return ChannelData(
            location_group=self.location_group,
            shortage_policy=self.shortage_policy,
            routing_strategy=self.routing_strategy,
            max_splits=self.max_splits,
            capture_policy=self.capture_policy,
            returnless_threshold=thresholds,
            return_fee=_amounts(self.return_fee, "return_fee"),
            refund_eligible_status=ReturnOrderStatus(self.refund_eligible_status),
            verify_authorizations=self.verify_authorizations,
            routing_run_every=self.routing_run_every,
            routing_lookahead_days=self.routing_lookahead_days,
        )


def _amounts(amounts: dict[str, str], name: str) -> tuple[Money, ...]:
    parsed = []
    for currency, amount in sorted(amounts.items()):
        where = f"{name}.{currency}"
        _check_currency(currency, where)
        parsed.append(Money.parse(amount, currency, field=where))
    return tuple(parsed)


class Channel(BaseModel):
    """A channel's policy."""

    ref: str
    configured: bool = Field(
        description="Always true: only a configured channel has a policy (an order naming "
        "any other channel is refused with 400 `channel_unknown`)."
    )
    location_group: str | None
    shortage_policy: ShortagePolicy
    routing_strategy: RoutingStrategy
    max_splits: int
    capture_policy: CapturePolicy
    returnless_threshold: dict[str, str]
    return_fee: dict[str, str]
    refund_eligible_status: str
    verify_authorizations: bool
    routing_run_every: int | None = None
    routing_lookahead_days: int | None = None
    updated_at: datetime | None
    adapter: ChannelAdapterView | None = None

    @classmethod
    def of(
        cls,
        policy: ChannelPolicy,
        updated_at: datetime | None = None,
        adapter: dict[str, Any] | None = None,
    ) -> Channel:
        return cls(
            ref=policy.channel,
            configured=policy.configured,
            location_group=policy.location_group,
            shortage_policy=policy.shortage_policy,
            routing_strategy=policy.routing_strategy,
            max_splits=policy.max_splits,
            capture_policy=policy.capture_policy,
            returnless_threshold=threshold_strings(policy.returnless_threshold),
            return_fee=threshold_strings(policy.return_fee),
            refund_eligible_status=policy.refund_eligible_status.value,
            verify_authorizations=policy.verify_authorizations,
            routing_run_every=policy.routing_run_every,
            routing_lookahead_days=policy.routing_lookahead_days,
            updated_at=updated_at,
            adapter=ChannelAdapterView.model_validate(adapter) if adapter else None,
        )


class ChannelList(BaseModel):
    items: list[Channel]
