"""What a location or location group PUT carries, the checks that need no database, and the
errors of locations and groups."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from openoms.domain.errors import NotFound, ValidationFailed
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
