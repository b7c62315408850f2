"""Request and response schemas of holds on order summaries."""

from __future__ import annotations

from pydantic import BaseModel, Field

from openoms.schemas.common import Payload
from openoms.schemas.order_views import HoldOut


class HoldIn(Payload):
    """Hold the order: its routing waits until every hold is released."""

    reason: str = Field(max_length=500, description="Why (required, not blank).")


class ReleaseHoldIn(Payload):
    """Lift one hold, or every active hold of the order."""

    hold_id: str | None = Field(
        default=None, max_length=40, description="The hold to release; absent: every active one."
    )
    reason: str | None = Field(default=None, max_length=500)


class HoldActionOut(BaseModel):
    """What a hold or a release did, and whether the order is still held."""

    order_summary_id: str
    holds: list[HoldOut] = Field(description="The hold placed, or the holds released.")
    on_hold: bool = Field(description="True while any hold of the order is still active.")
