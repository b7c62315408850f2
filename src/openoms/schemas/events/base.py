"""What every event declaration shares: the payload base model, money and time types,
the parts several payloads use, and `EventType`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

VERSION = 1
AMOUNT_PATTERN = r"^-?\d+(\.\d+)?$"
TIMESTAMP_PATTERN = r"Z$"

Amount = Annotated[
    str,
    Field(
        pattern=AMOUNT_PATTERN,
        description="A decimal string in the order's currency, e.g. `20.55`.",
    ),
]
MinorUnits = Annotated[int, Field(description="An amount in the currency's minor units.")]
Quantity = Annotated[int, Field(description="Whole units.")]
Timestamp = Annotated[
    str, Field(description="An ISO 8601 UTC timestamp ending in `Z`.", pattern=TIMESTAMP_PATTERN)
]


class EventPayload(BaseModel):
    """Base of every payload model: unknown fields refused, strict JSON types."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


class SkuQuantity(EventPayload):
    sku: str
    quantity: Quantity


class StatusMove(EventPayload):
    """A lifecycle step: the status before and after."""

    from_: str = Field(alias="from")
    to: str


class FulfillmentOrderLine(EventPayload):
    id: str = Field(description="The fulfillment order line item's id.")
    order_item_summary_id: str
    sku: str
    quantity: Quantity


class ItemLine(EventPayload):
    order_item_summary_id: str
    sku: str
    quantity: Quantity


@dataclass(frozen=True, slots=True)
class EventType:
    """One kind of event: its name, version, aggregate, when it fires, its payload."""

    name: str
    aggregate_type: str
    payload: type[BaseModel]
    description: str
    version: int = VERSION
