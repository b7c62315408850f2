"""Stateless routing actions (DESIGN.md §6, §12): payloads and bodies.

Structure is checked here (422); business rules (positive ordered quantities, stock not
negative, a location listed once, amounts in the currency) by the service (400)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from openoms.schemas.common import UNSIGNED_AMOUNT_PATTERN, Identifier, Payload, Quantity

Ref = Annotated[Identifier, Field(min_length=1, max_length=100, description="Location ref.")]
Sku = Annotated[Identifier, Field(min_length=1, max_length=100)]
Amount = Annotated[
    str,
    Field(
        pattern=UNSIGNED_AMOUNT_PATTERN,
        description='Non-negative decimal string in `currency`, e.g. "4.99".',
        examples=["4.99"],
    ),
]
MAX_ITEMS = 500
MAX_INVENTORY_ROWS = 20_000
MAX_SPLITS = 10


class OrderedQuantity(Payload):
    sku: Sku
    quantity: Quantity = Field(description="Units wanted; a positive whole number.")


class LocationInventory(Payload):
    location: Ref
    sku: Sku
    quantity: Quantity = Field(description="Units the location can give; not negative.")


class Coordinates(Payload):
    lat: float = Field(ge=-90, le=90, description="Latitude, degrees.")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees.")


class _RoutingInput(Payload):
    ordered_quantities: list[OrderedQuantity] = Field(min_length=1, max_length=MAX_ITEMS)
    location_available_inventory: list[LocationInventory] = Field(
        max_length=MAX_INVENTORY_ROWS,
        description="One row per (location, SKU); SKUs nobody ordered are ignored.",
    )
    max_splits: int = Field(
        default=2,
        le=MAX_SPLITS,
        description="Extra locations a route may use: at most max_splits + 1 locations.",
    )
    destination: Coordinates | None = Field(
        default=None, description="Rank routes by average distance to this point."
    )


class FindRoutesRequest(_RoutingInput):
    """What is wanted and what each location has. Locations are refs; a ref of a known
    location lends its coordinates to the ranking when a `destination` is given."""

    limit: int = Field(default=100, ge=1, le=1000, description="At most this many routes.")


class AllocationOut(BaseModel):
    location: str
    sku: str
    quantity: int


class RouteOut(BaseModel):
    locations: list[str]
    allocations: list[AllocationOut]


class FindRoutesResponse(BaseModel):
    """Routes best first (nearest on average, then cheapest, then by location refs), each
    using the fewest locations possible; no route: `[]`."""

    routes: list[RouteOut]


class RankRequest(Payload):
    locations: list[Ref] = Field(min_length=1, max_length=1000)
    destination: Coordinates


class RankedLocation(BaseModel):
    location: str
    average_distance_km: float | None = Field(
        description="Great-circle distance to the destination, km (null: no coordinates)."
    )


class RankResponse(BaseModel):
    """Nearest first; locations without coordinates last."""

    locations: list[RankedLocation]


class LocationShippingCost(Payload):
    location: Ref
    per_shipment: Amount
    per_unit: Amount


class OptimalRoutesRequest(_RoutingInput):
    """As find-routes-with-fewest-splits, plus what shipping from each location costs."""

    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the amounts; needed with shipping_costs or split_penalty.",
    )
    shipping_costs: list[LocationShippingCost] = Field(
        default_factory=list,
        max_length=MAX_INVENTORY_ROWS,
        description="A location not listed is counted at the dearest listed rate.",
    )
    split_penalty: Amount | None = Field(
        default=None, description="Added for each location beyond the first."
    )
    time_budget_ms: int = Field(default=50, ge=1, le=2000, description="Solver time limit.")


class CostedRouteOut(RouteOut):
    cost: str | None = Field(description="Shipping plus split penalties, in `currency`.")


class OptimalRoutesResponse(BaseModel):
    """The least-cost route (at most one), or `[]`; `reason` says how it was found."""

    routes: list[CostedRouteOut]
    currency: str | None
    strategy: str
    reason: str
