"""The events of inventory, reservations, locations and channels: payload models and
declarations."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from openoms.schemas.events.base import EventPayload, EventType, MinorUnits, Quantity, Timestamp


class InventoryImported(EventPayload):
    import_id: str
    mode: Literal["delta", "full"]
    records: int
    applied: int
    skipped_duplicates: int
    zeroed: int
    locations_touched: int


class RestockedLine(EventPayload):
    location: str = Field(description="The location's ref.")
    sku: str
    quantity: Quantity


class InventoryRestocked(EventPayload):
    return_order_id: str
    lines: list[RestockedLine]


class HoldLine(EventPayload):
    sku: str
    location_id: str
    quantity: Quantity


class ReservationScope(EventPayload):
    reservation_id: str
    status: str = Field(description="The reservation's status after the change.")
    location_group_id: str | None
    location_id: str | None


class ReservationShortfall(EventPayload):
    sku: str
    requested: Quantity
    available: Quantity


class ReservationCreated(ReservationScope):
    expires_at: Timestamp | None
    lines: list[HoldLine]
    shortfall: list[ReservationShortfall] | None = Field(
        default=None, description="Only when a partial reservation could not hold everything."
    )


class TransferMove(EventPayload):
    sku: str
    from_location_id: str
    quantity: Quantity


class ReservationTransferred(ReservationScope):
    to_location_id: str
    moves: list[TransferMove]


class ReservationSettled(ReservationScope):
    lines: list[HoldLine] = Field(description="The units taken off the reservation.")


class ReservationReleased(ReservationSettled):
    reason: Literal["routing_failed"] | None = Field(
        default=None, description="Only when routing gave the units back."
    )
    delivery_group_summary_id: str | None = Field(
        default=None, description="Only when routing gave the units back: the group it gave up."
    )


class LocationUpserted(EventPayload):
    ref: str
    created: bool
    type: str
    active: bool
    can_ship: bool
    can_pickup: bool
    groups: list[str] = Field(description="The refs of the location's groups.")


class LocationGroupUpserted(EventPayload):
    ref: str
    name: str
    created: bool
    locations: list[str] = Field(description="The refs of the group's locations.")


class ChannelUpserted(EventPayload):
    ref: str
    created: bool
    location_group: str | None
    shortage_policy: str
    routing_strategy: str
    max_splits: int
    capture_policy: str
    returnless_threshold: dict[str, MinorUnits] = Field(description="Currency → minor units.")
    return_fee: dict[str, MinorUnits] = Field(description="Currency → minor units.")
    refund_eligible_status: str
    verify_authorizations: bool


_RESERVATION_DONE = "A reservation gave back units"

TYPES: tuple[EventType, ...] = (
    EventType(
        "channel.upserted",
        "channel",
        ChannelUpserted,
        "A channel's policy was created or replaced (PUT) and something changed.",
    ),
    EventType(
        "inventory.imported",
        "inventory_import",
        InventoryImported,
        "An inventory import (delta or full) was applied.",
    ),
    EventType(
        "inventory.restocked",
        "return_order",
        InventoryRestocked,
        "Returned units received in sellable condition went back on hand.",
    ),
    EventType(
        "location.upserted",
        "location",
        LocationUpserted,
        "A location was created or replaced (PUT or import) and something changed.",
    ),
    EventType(
        "location_group.upserted",
        "location_group",
        LocationGroupUpserted,
        "A location group was created or replaced and something changed.",
    ),
    EventType(
        "reservation.created",
        "reservation",
        ReservationCreated,
        "Stock was reserved (at capture, by routing or a reship, or by the reservations API).",
    ),
    EventType(
        "reservation.expired",
        "reservation",
        ReservationSettled,
        f"{_RESERVATION_DONE} because it expired.",
    ),
    EventType(
        "reservation.fulfilled",
        "reservation",
        ReservationSettled,
        f"{_RESERVATION_DONE} because they shipped.",
    ),
    EventType(
        "reservation.released",
        "reservation",
        ReservationReleased,
        f"{_RESERVATION_DONE} to free stock (a cancel, a rejection, routing giving "
        "up, or the API).",
    ),
    EventType(
        "reservation.transferred",
        "reservation",
        ReservationTransferred,
        "Held units moved from some locations to another.",
    ),
)
