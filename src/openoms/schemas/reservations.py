"""Reservation payloads and bodies (DESIGN.md §12). Structure is checked here (422); business
rules (positive quantities, enough stock, units held) by the service (400/409)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from openoms.schemas.common import Identifier, Payload, Quantity

Ref = Annotated[Identifier, Field(min_length=1, max_length=100)]
Sku = Annotated[Identifier, Field(min_length=1, max_length=100)]
MAX_ITEMS = 500
MAX_TTL_SECONDS = 30 * 24 * 3600


class ReservationItemIn(Payload):
    sku: Sku
    quantity: Quantity = Field(description="Units; a positive whole number.")


def _distinct_skus(items: list[ReservationItemIn] | None) -> None:
    seen: set[str] = set()
    for item in items or ():
        if item.sku in seen:
            raise ValueError(f"sku {item.sku!r} is listed twice; give its total once")
        seen.add(item.sku)


class ReservationCreate(Payload):
    """Hold stock against one location group or one location, all or nothing."""

    location_group: Ref | None = Field(default=None, description="Location group ref.")
    location: Ref | None = Field(default=None, description="Location ref.")
    items: list[ReservationItemIn] = Field(min_length=1, max_length=MAX_ITEMS)
    expires_in_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TTL_SECONDS,
        description="Release the units automatically after this long; none: held until "
        "fulfilled or released.",
    )

    @model_validator(mode="after")
    def _one_scope(self) -> ReservationCreate:
        if (self.location_group is None) == (self.location is None):
            raise ValueError("give exactly one of location_group or location")
        _distinct_skus(self.items)
        return self


class ReservationTransfer(Payload):
    """Move held units to a location: all of them, or the given SKU quantities."""

    to_location: Ref
    from_location: Ref | None = Field(
        default=None, description="Only move units held here (default: from everywhere else)."
    )
    items: list[ReservationItemIn] | None = Field(default=None, max_length=MAX_ITEMS)

    @model_validator(mode="after")
    def _distinct(self) -> ReservationTransfer:
        _distinct_skus(self.items)
        return self


class FulfillItemIn(Payload):
    sku: Sku
    location: Ref
    quantity: Quantity = Field(description="Units shipped; a positive whole number.")


class ReservationFulfill(Payload):
    """Ship held units (on hand and reserved both go down): all, or the given ones."""

    items: list[FulfillItemIn] | None = Field(default=None, max_length=MAX_ITEMS)


class ReservationRelease(Payload):
    """Give back held units: all, or the given SKU quantities (optionally at one location)."""

    items: list[ReservationItemIn] | None = Field(default=None, max_length=MAX_ITEMS)
    location: Ref | None = Field(default=None, description="Only release units held here.")

    @model_validator(mode="after")
    def _distinct(self) -> ReservationRelease:
        _distinct_skus(self.items)
        return self


class ReservationItemOut(BaseModel):
    sku: str
    location: str = Field(description="Ref of the location holding the units.")
    quantity: int = Field(description="Units held now.")
    fulfilled: int = Field(description="Units shipped from this hold.")
    released: int = Field(description="Units given back (released or expired).")


class Reservation(BaseModel):
    id: str
    status: str = Field(description="ACTIVE, FULFILLED, RELEASED or EXPIRED.")
    location_group: str | None = Field(description="Ref of the group reserved against.")
    location: str | None = Field(description="Ref of the location reserved against.")
    order_summary_id: str | None
    items: list[ReservationItemOut] = Field(
        description="One per SKU and location the reservation holds or held units at."
    )
    expires_at: str | None
    created_at: str
    updated_at: str
