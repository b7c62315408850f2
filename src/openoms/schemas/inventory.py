"""Inventory wire contract (DESIGN.md §12): import lines, availability requests and answers,
inventory records.

Import lines are strict (`Payload`): unknown fields are rejected, quantities must be JSON
integers from 0 to 1,000,000 (not 1.0, not "5"), refs hold no control characters or
surrounding spaces, and every future needs an `expected_date` (YYYY-MM-DD).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from openoms.schemas.common import Identifier, IsoDate, Payload, StockQuantity

MAX_FUTURES = 100

Ref = Annotated[Identifier, Field(min_length=1, max_length=100)]


class FutureIn(Payload):
    """Stock expected to arrive; it counts toward available_to_order within the horizon."""

    quantity: StockQuantity
    expected_date: IsoDate = Field(description="YYYY-MM-DD.", examples=["2026-12-01"])


class InventoryLineIn(Payload):
    """One line of an inventory import: the stock of one SKU at one location.

    `safety_stock` and `futures`, when left out, keep their current values (0 and none for a
    new record); `futures: []` clears them. A `record_id` makes the line idempotent: a line
    whose record_id was applied before is skipped."""

    location: Ref = Field(description="Location ref.", examples=["WH-1"])
    sku: Ref = Field(examples=["TEE-M"])
    on_hand: StockQuantity
    safety_stock: StockQuantity | None = None
    futures: list[FutureIn] | None = Field(default=None, max_length=MAX_FUTURES)
    record_id: Annotated[Identifier, Field(min_length=1, max_length=200)] | None = None


class ImportLineError(BaseModel):
    line: int = Field(description="1-based line number in the file (CSV: the header is 1).")
    field: str | None = Field(description="The field at fault; null for the whole line.")
    message: str


class InventoryImportResult(BaseModel):
    """What an import did. Nothing is applied when any line is bad (400 instead)."""

    import_id: str
    mode: Literal["delta", "full"]
    records: int = Field(description="Records read (blank lines aside).")
    applied: int = Field(description="Records written.")
    skipped_duplicates: int = Field(description="Records whose record_id was applied before.")
    zeroed: int = Field(description="Full mode: unlisted records set to zero on hand.")
    locations_touched: int = Field(description="Distinct locations the import names.")


# --- availability -------------------------------------------------------------------------


class AvailabilityRequest(Payload):
    """SKUs (at most 100) at named locations and location groups (at most 100 together);
    with neither, every active location. A SKU without a record counts as zero."""

    skus: list[Ref] = Field(min_length=1, examples=[["TEE-M", "MUG"]])
    locations: list[Ref] | None = Field(default=None, examples=[["WH-1"]])
    location_groups: list[Ref] | None = Field(default=None, examples=[["online"]])


class SkuAvailability(BaseModel):
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available_to_fulfill: int = Field(description="on_hand − reserved − safety_stock.")
    available_to_order: int = Field(
        description="available_to_fulfill + futures expected within the horizon (30 days)."
    )


class LocationAvailability(BaseModel):
    location: str
    inventory_records: list[SkuAvailability]


class GroupAvailability(BaseModel):
    location_group: str
    inventory_records: list[SkuAvailability] = Field(
        description="Sums over the group's active locations; a location that is short "
        "counts as zero in the available figures."
    )


class AvailabilityResponse(BaseModel):
    locations: list[LocationAvailability]
    location_groups: list[GroupAvailability]


# --- records ------------------------------------------------------------------------------


class FutureOut(BaseModel):
    quantity: int
    expected_date: date


class InventoryRecordOut(BaseModel):
    location: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available_to_fulfill: int
    available_to_order: int
    futures: list[FutureOut]
    updated_at: datetime


class InventoryRecordPage(BaseModel):
    items: list[InventoryRecordOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
