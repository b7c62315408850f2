"""Stateless routing actions (DESIGN.md §6, §12): the routing strategies answering questions
about quantities the caller gives, named as in Salesforce. Nothing is reserved or written;
the database only lends known locations' coordinates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from openoms.adapters.db.repositories import routing as repo
from openoms.domain.errors import CurrencyUnknown
from openoms.domain.money import Money, currency_exponent
from openoms.domain.routing import (
    Candidate,
    Destination,
    Route,
    RoutingInputInvalid,
    RoutingItem,
    RoutingPolicy,
    RoutingResult,
    ShippingCost,
    find_routes_with_fewest_splits,
    haversine_km,
    optimal,
)
from openoms.services.inventory import LocationNotFound


@dataclass(frozen=True, slots=True)
class RoutingQuestion:
    """ordered: (sku, quantity); inventory: (location ref, sku, quantity)."""

    ordered: Sequence[tuple[str, int]]
    inventory: Sequence[tuple[str, str, int]]
    max_splits: int
    destination: Destination | None


@dataclass(frozen=True, slots=True)
class CostedQuestion:
    """shipping: (location ref, per shipment, per unit), amounts as decimal strings."""

    currency: str | None
    shipping: Sequence[tuple[str, str, str]]
    split_penalty: str | None
    time_budget_ms: int


def find_routes(session: Session, question: RoutingQuestion, *, limit: int) -> list[Route]:
    """Every route that fulfils the whole order from the fewest locations (at most
    max_splits + 1), best first; [] when there is none."""
    items, candidates = _prepare(session, question, {})
    return find_routes_with_fewest_splits(
        items, candidates, question.max_splits, question.destination, limit=limit
    )


def find_optimal_route(
    session: Session, question: RoutingQuestion, costs: CostedQuestion
) -> RoutingResult:
    """The least-cost route: shipping per shipment and per unit, plus the split penalty."""
    if costs.currency is not None:
        try:
            currency_exponent(costs.currency)
        except CurrencyUnknown as exc:
            raise CurrencyUnknown(exc.detail, field="currency") from None
    rates = _rates(costs)
    penalty = _amount(costs, costs.split_penalty, "split_penalty") if costs.split_penalty else 0
    items, candidates = _prepare(session, question, rates)
    policy = RoutingPolicy(
        strategy="optimal",
        max_splits=question.max_splits,
        split_penalty=penalty,
        time_budget_ms=costs.time_budget_ms,
    )
    return optimal(items, candidates, question.destination, policy)


def rank_by_average_distance(
    session: Session, refs: Sequence[str], destination: Destination
) -> list[tuple[str, float | None]]:
    """Known locations by distance to `destination`, nearest first (those without
    coordinates last, by ref). An unknown ref is LocationNotFound."""
    wanted = list(dict.fromkeys(refs))
    found = repo.locations_by_ref(session, wanted)
    missing = [ref for ref in wanted if ref not in found]
    if missing:
        raise LocationNotFound(
            f"no location {', '.join(repr(r) for r in missing)}", refs=missing, field="locations"
        )
    point = (destination.lat, destination.lon)
    ranked: list[tuple[float, str]] = []
    unplaced: list[str] = []
    for ref in wanted:
        location = found[ref]
        if location.lat is None or location.lon is None:
            unplaced.append(ref)
        else:
            ranked.append((haversine_km(point, (location.lat, location.lon)), ref))
    ranked.sort()
    return [(ref, round(km, 1)) for km, ref in ranked] + [(ref, None) for ref in sorted(unplaced)]


def _prepare(
    session: Session, question: RoutingQuestion, rates: Mapping[str, ShippingCost]
) -> tuple[list[RoutingItem], list[Candidate]]:
    items = []
    for index, (sku, quantity) in enumerate(question.ordered):
        if quantity <= 0:
            raise RoutingInputInvalid(
                f"quantity of {sku} must be a positive whole number, got {quantity}",
                field=f"ordered_quantities[{index}].quantity",
            )
        items.append(RoutingItem(sku, quantity))
    stock: dict[str, dict[str, int]] = {}
    for index, (ref, sku, quantity) in enumerate(question.inventory):
        field = f"location_available_inventory[{index}]"
        if quantity < 0:
            raise RoutingInputInvalid(
                f"available quantity of {sku} at {ref} cannot be negative, got {quantity}",
                field=f"{field}.quantity",
            )
        if sku in stock.setdefault(ref, {}):
            raise RoutingInputInvalid(f"{sku} at {ref} is listed twice", field=field)
        stock[ref][sku] = quantity
    known = repo.locations_by_ref(session, stock) if question.destination else {}
    candidates = [
        Candidate(
            location_id=ref,
            lat=known[ref].lat if ref in known else None,
            lon=known[ref].lon if ref in known else None,
            available=available,
            shipping=rates.get(ref),
        )
        for ref, available in stock.items()
    ]
    return items, candidates


def _rates(costs: CostedQuestion) -> dict[str, ShippingCost]:
    rates: dict[str, ShippingCost] = {}
    for index, (ref, per_shipment, per_unit) in enumerate(costs.shipping):
        field = f"shipping_costs[{index}]"
        if ref in rates:
            raise RoutingInputInvalid(f"shipping cost of {ref} is listed twice", field=field)
        rates[ref] = ShippingCost(
            _amount(costs, per_shipment, f"{field}.per_shipment"),
            _amount(costs, per_unit, f"{field}.per_unit"),
        )
    return rates


def _amount(costs: CostedQuestion, text: str, field: str) -> int:
    if costs.currency is None:
        raise RoutingInputInvalid(
            "give the currency of shipping costs and split penalty", field="currency"
        )
    return Money.parse(text, costs.currency, field=field).minor
