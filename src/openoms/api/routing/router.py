"""Stateless routing actions (DESIGN.md §6, §12): ask the routing strategies about quantities
you give. Nothing is reserved or written, so a repeat simply answers again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from openoms.adapters.db.session import Database
from openoms.api.auth import require_scope
from openoms.api.deps import get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.domain.money import format_minor
from openoms.domain.routing import Allocation, Destination
from openoms.schemas.routing import (
    Coordinates,
    FindRoutesRequest,
    FindRoutesResponse,
    OptimalRoutesRequest,
    OptimalRoutesResponse,
    RankRequest,
    RankResponse,
)
from openoms.services.access import Principal, Scope
from openoms.services.routing import (
    CostedQuestion,
    RoutingQuestion,
    find_optimal_route,
    find_routes,
    rank_by_average_distance,
)

router = APIRouter(prefix="/api/v1/routing/actions", tags=["routing"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "A quantity, amount or currency breaks a rule (`routing_input_invalid`, …).",
        401: "No valid API key.",
        403: "The API key lacks the scope.",
        404: "An unknown location ref (`location_not_found`).",
        422: "The payload does not match the schema.",
    }.items()
}

Asker = Annotated[Principal, Depends(require_scope(Scope.STOREFRONT, Scope.AGENT))]


@router.post(
    "/find-routes-with-fewest-splits", response_model=FindRoutesResponse, responses=PROBLEMS
)
def find_routes_with_fewest_splits(
    payload: FindRoutesRequest, _: Asker, db: Annotated[Database, Depends(get_db)]
) -> dict[str, Any]:
    """Every way to fulfil all `ordered_quantities` from the fewest locations (at most
    `max_splits` + 1), best first: nearest on average to `destination` when given, then
    cheapest, then by location refs. No route: `{"routes": []}`."""
    with db.reading() as session:
        routes = find_routes(session, _question(payload), limit=payload.limit)
    return {
        "routes": [
            {"locations": list(r.locations), "allocations": _allocations(r.allocations)}
            for r in routes
        ]
    }


@router.post("/rank-by-average-distance", response_model=RankResponse, responses=PROBLEMS)
def rank_by_average_distance_action(
    payload: RankRequest, _: Asker, db: Annotated[Database, Depends(get_db)]
) -> dict[str, Any]:
    """Known locations by great-circle distance to `destination`, nearest first; those
    without coordinates last with a null distance. An unknown ref is 404."""
    with db.reading() as session:
        ranked = rank_by_average_distance(
            session, payload.locations, _destination(payload.destination)
        )
    return {"locations": [{"location": r, "average_distance_km": km} for r, km in ranked]}


@router.post("/find-optimal-routes", response_model=OptimalRoutesResponse, responses=PROBLEMS)
def find_optimal_routes(
    payload: OptimalRoutesRequest, _: Asker, db: Annotated[Database, Depends(get_db)]
) -> dict[str, Any]:
    """The route of least cost — shipping per shipment and per unit from each location,
    plus `split_penalty` per location beyond the first — within `max_splits`, solved
    exactly (HiGHS) within `time_budget_ms`, else the best found (the `reason` says which).
    No complete route: `{"routes": []}`."""
    costs = CostedQuestion(
        currency=payload.currency,
        shipping=[(c.location, c.per_shipment, c.per_unit) for c in payload.shipping_costs],
        split_penalty=payload.split_penalty,
        time_budget_ms=payload.time_budget_ms,
    )
    with db.reading() as session:
        result = find_optimal_route(session, _question(payload), costs)
    routes = []
    if result.complete and result.allocations:
        routes.append(
            {
                "locations": list(result.locations),
                "allocations": _allocations(result.allocations),
                "cost": format_cost(result.cost, payload.currency),
            }
        )
    return {
        "routes": routes,
        "currency": payload.currency,
        "strategy": result.strategy,
        "reason": result.reason,
    }


def format_cost(minor: int, currency: str | None) -> str | None:
    return None if currency is None else format_minor(minor, currency)


def _question(payload: FindRoutesRequest | OptimalRoutesRequest) -> RoutingQuestion:
    return RoutingQuestion(
        ordered=[(q.sku, q.quantity) for q in payload.ordered_quantities],
        inventory=[(r.location, r.sku, r.quantity) for r in payload.location_available_inventory],
        max_splits=payload.max_splits,
        destination=_destination(payload.destination) if payload.destination else None,
    )


def _destination(point: Coordinates) -> Destination:
    return Destination(point.lat, point.lon)


def _allocations(allocations: tuple[Allocation, ...]) -> list[dict[str, Any]]:
    return [{"location": a.location_id, "sku": a.sku, "quantity": a.quantity} for a in allocations]
