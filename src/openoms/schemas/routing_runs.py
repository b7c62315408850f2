"""Request and response schemas of routing runs (docs/routing-runs.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from openoms.schemas.common import Payload


class RoutingRunIn(Payload):
    """Place a channel's groups together."""

    channel: str = Field(min_length=1, max_length=100, description="The channel whose groups run.")
    dry_run: bool = Field(
        default=True, description="Plan and report only (the default); false applies the plan."
    )
    scope: Literal["waiting", "unreleased"] = Field(
        default="waiting",
        description=(
            "`waiting`: groups with units not placed (new, backordered, rejected, released "
            "from hold); `unreleased`: also groups whose fulfillment orders are all still "
            "ALLOCATED."
        ),
    )
    time_budget_ms: int = Field(
        default=5000, ge=1, le=60000, description="The solver's time budget."
    )


class Figures(BaseModel):
    placed: int = Field(description="Units placed.")
    shipments: int = Field(description="Locations used, summed over groups.")
    splits: int = Field(description="Shipments beyond the first of each group.")
    cost: int = Field(description="Shipping cost, minor units of the orders' currency.")
    groups: int | None = None


class RunFigures(BaseModel):
    current: Figures
    one_at_a_time: Figures
    plan: Figures


class Savings(BaseModel):
    """What the plan saves (positive) against a comparison."""

    shipments: int
    splits: int
    cost: int


class Placement(BaseModel):
    location: str
    sku: str
    quantity: int


class RunGroupOut(BaseModel):
    order_summary_id: str
    delivery_group_summary_id: str
    outcome: str = Field(description="unchanged, planned (dry run), moved or skipped.")
    reason: str | None
    current: list[Placement]
    planned: list[Placement]
    figures: RunFigures


class LookAheadOut(BaseModel):
    """The expected demand a run weighed (docs/routing-runs.md#look-ahead)."""

    days: int = Field(description="Days of the channel's past orders it drew from.")
    hours: int = Field(description="How far ahead: the same hours of each of those days.")
    past_groups: int = Field(description="The channel's ship groups ordered in those windows.")
    expected_groups: int = Field(description="Of them, how many the plan weighed.")
    expected_per_day: float = Field(description="past_groups / days: groups expected ahead.")
    windows: list[list[datetime]] = Field(description="[from, to) of each day's window.")


class RoutingRunOut(BaseModel):
    id: str
    channel: str
    scope: str
    dry_run: bool
    trigger: str
    status: str = Field(description="planned (dry run), applying or applied.")
    solve_status: str = Field(description="optimal, improved, time_limit or fallback.")
    reason: str
    solve_ms: int
    groups: int
    applied: int
    skipped: int
    totals: RunFigures
    savings: dict[str, Savings] = Field(
        description="Against `current` and `one_at_a_time`: positive is saved."
    )
    created_at: datetime
    finished_at: datetime | None
    tick_at: datetime | None
    group_outcomes: list[RunGroupOut] | None = None
    look_ahead: LookAheadOut | None = Field(
        default=None, description="The expected demand the run weighed; null: none."
    )


class RoutingRunList(BaseModel):
    runs: list[RoutingRunOut]
