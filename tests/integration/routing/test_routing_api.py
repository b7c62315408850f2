"""The stateless routing actions over HTTP (DESIGN.md §12), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.inventory import LocationType
from openoms.services.inventory import Address, LocationData, upsert_location
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.helpers import count

FEWEST = "/api/v1/routing/actions/find-routes-with-fewest-splits"
RANK = "/api/v1/routing/actions/rank-by-average-distance"
OPTIMAL = "/api/v1/routing/actions/find-optimal-routes"
LONDON = {"lat": 51.52, "lon": -0.10}


@pytest.fixture(autouse=True)
def _network(stocked: Database) -> None:
    """Known locations lend their coordinates: WH-LDN, WH-MAN, STORE-LDN."""


def post(api: Api, path: str, body: dict[str, Any], scope: str = "storefront") -> Any:
    return api.client.post(path, json=body, headers=api.headers(scope))


def question(
    ordered: dict[str, int], inventory: dict[tuple[str, str], int], **extra: Any
) -> dict[str, Any]:
    return {
        "ordered_quantities": [{"sku": s, "quantity": q} for s, q in ordered.items()],
        "location_available_inventory": [
            {"location": loc, "sku": s, "quantity": q} for (loc, s), q in inventory.items()
        ],
        **extra,
    }


def alloc(location: str, sku: str, quantity: int) -> dict[str, Any]:
    return {"location": location, "sku": sku, "quantity": quantity}


def writes(db: Database) -> tuple[int, int, int]:
    return count(db, m.Event), count(db, m.Reservation), count(db, m.Job)


# --- find-routes-with-fewest-splits --------------------------------------------------------


def test_one_location_holding_everything_is_the_only_route(api: Api) -> None:
    body = question(
        {"TEE-M": 3, "MUG": 1},
        {
            ("WH-LDN", "TEE-M"): 10,
            ("WH-LDN", "MUG"): 20,
            ("WH-MAN", "TEE-M"): 5,
            ("STORE-LDN", "MUG"): 10,
            ("STORE-LDN", "HAT"): 4,  # a SKU nobody ordered is ignored
        },
    )
    before = writes(api.db)

    response = post(api, FEWEST, body)

    assert response.status_code == 200
    assert response.json() == {
        "routes": [
            {
                "locations": ["WH-LDN"],
                "allocations": [alloc("WH-LDN", "MUG", 1), alloc("WH-LDN", "TEE-M", 3)],
            }
        ]
    }
    assert writes(api.db) == before  # stateless: nothing reserved, no event


def test_every_fewest_split_route_nearest_on_average_first(api: Api) -> None:
    inventory = {
        ("WH-LDN", "TEE-M"): 2,
        ("WH-MAN", "TEE-M"): 3,
        ("STORE-LDN", "MUG"): 1,
        ("POPUP-9", "MUG"): 5,  # not a known location: no coordinates, ranked last
    }
    body = question({"TEE-M": 3, "MUG": 1}, inventory, destination=LONDON)

    response = post(api, FEWEST, body, scope="agent")

    assert response.status_code == 200
    assert response.json()["routes"] == [
        {
            "locations": ["STORE-LDN", "WH-MAN"],
            "allocations": [alloc("STORE-LDN", "MUG", 1), alloc("WH-MAN", "TEE-M", 3)],
        },
        {
            "locations": ["WH-MAN", "POPUP-9"],
            "allocations": [alloc("WH-MAN", "TEE-M", 3), alloc("POPUP-9", "MUG", 1)],
        },
    ]
    limited = post(api, FEWEST, {**body, "limit": 1})
    assert [r["locations"] for r in limited.json()["routes"]] == [["STORE-LDN", "WH-MAN"]]


def test_no_route_within_max_splits_is_an_empty_list(api: Api) -> None:
    inventory = {("WH-LDN", "TEE-M"): 2, ("WH-MAN", "TEE-M"): 3}
    split = post(api, FEWEST, question({"TEE-M": 4}, inventory))
    single = post(api, FEWEST, question({"TEE-M": 4}, inventory, max_splits=0))
    short = post(api, FEWEST, question({"TEE-M": 6}, inventory))

    assert split.json() == {
        "routes": [
            {
                "locations": ["WH-LDN", "WH-MAN"],
                "allocations": [alloc("WH-LDN", "TEE-M", 2), alloc("WH-MAN", "TEE-M", 2)],
            }
        ]
    }
    assert (single.status_code, single.json()) == (200, {"routes": []})
    assert (short.status_code, short.json()) == (200, {"routes": []})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (question({"TEE-M": -1}, {}), "ordered_quantities[0].quantity"),
        (question({"TEE-M": 1, "MUG": 0}, {}), "ordered_quantities[1].quantity"),
        (
            question({"TEE-M": 1}, {("WH-LDN", "MUG"): 2, ("WH-LDN", "TEE-M"): -3}),
            "location_available_inventory[1].quantity",
        ),
        (
            question({"TEE-M": 1}, {("WH-LDN", "TEE-M"): 2})
            | {
                "location_available_inventory": [
                    {"location": "WH-LDN", "sku": "TEE-M", "quantity": 2},
                    {"location": "WH-LDN", "sku": "TEE-M", "quantity": 1},
                ]
            },
            "location_available_inventory[1]",
        ),
        (question({"TEE-M": 1}, {}, max_splits=-1), "max_splits"),
    ],
)
def test_bad_quantities_are_problems(api: Api, body: dict[str, Any], field: str) -> None:
    response = post(api, FEWEST, body)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["field"]) == ("routing_input_invalid", field)


def test_a_malformed_payload_is_422(api: Api) -> None:
    response = post(api, FEWEST, {"ordered_quantities": [], "location_available_inventory": []})
    too_many = post(api, FEWEST, question({"TEE-M": 1}, {}, max_splits=11))

    assert (response.status_code, response.json()["code"]) == (422, "payload_invalid")
    assert [e["field"] for e in response.json()["errors"]] == ["ordered_quantities"]
    assert (too_many.status_code, too_many.json()["errors"][0]["field"]) == (422, "max_splits")


def test_routing_actions_need_a_storefront_agent_or_admin_key(api: Api) -> None:
    body = question({"TEE-M": 1}, {("WH-LDN", "TEE-M"): 1})

    anonymous = api.client.post(FEWEST, json=body)
    warehouse = post(api, FEWEST, body, scope="warehouse")
    admin = post(api, RANK, {"locations": ["WH-LDN"], "destination": LONDON}, scope="admin")

    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
    assert (warehouse.status_code, warehouse.json()["code"]) == (403, "forbidden")
    assert admin.status_code == 200


# --- rank-by-average-distance --------------------------------------------------------------


def test_locations_are_ranked_nearest_first(api: Api) -> None:
    with api.db.transaction() as session:
        upsert_location(
            session,
            Outbox(default_registry()),
            "DROP-1",
            LocationData(
                name="Drop-ship vendor",
                type=LocationType.DROPSHIP,
                address=Address(line1="1 Unknown St", city="Leeds", country="GB"),
                can_ship=True,
                can_pickup=False,
            ),
        )
    body = {"locations": ["WH-MAN", "DROP-1", "STORE-LDN", "WH-LDN"], "destination": LONDON}

    response = post(api, RANK, body)

    assert response.status_code == 200
    assert response.json() == {
        "locations": [
            {"location": "STORE-LDN", "average_distance_km": 1.4},
            {"location": "WH-LDN", "average_distance_km": 2.6},
            {"location": "WH-MAN", "average_distance_km": 261.7},
            {"location": "DROP-1", "average_distance_km": None},
        ]
    }


def test_ranking_an_unknown_location_is_404(api: Api) -> None:
    response = post(api, RANK, {"locations": ["WH-LDN", "NOWHERE"], "destination": LONDON})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["refs"], problem["field"]) == (
        "location_not_found",
        ["NOWHERE"],
        "locations",
    )


def test_ranking_needs_a_destination(api: Api) -> None:
    response = post(api, RANK, {"locations": ["WH-LDN"]})

    assert (response.status_code, response.json()["errors"][0]["field"]) == (422, "destination")


# --- find-optimal-routes -------------------------------------------------------------------


def test_the_cheapest_route_wins_even_when_farther(api: Api) -> None:
    body = question(
        {"TEE-M": 3},
        {("WH-LDN", "TEE-M"): 10, ("WH-MAN", "TEE-M"): 5},
        destination=LONDON,
        currency="GBP",
        shipping_costs=[
            {"location": "WH-LDN", "per_shipment": "5.00", "per_unit": "1.00"},
            {"location": "WH-MAN", "per_shipment": "2.00", "per_unit": "0.10"},
        ],
    )

    response = post(api, OPTIMAL, body)

    assert response.status_code == 200
    answer = response.json()
    assert answer["routes"] == [
        {"locations": ["WH-MAN"], "allocations": [alloc("WH-MAN", "TEE-M", 3)], "cost": "2.30"}
    ]
    assert (answer["currency"], answer["strategy"]) == ("GBP", "optimal")
    assert answer["reason"].startswith("optimal: least cost 230")


def test_a_split_penalty_can_make_one_location_cheapest(api: Api) -> None:
    inventory = {("WH-LDN", "TEE-M"): 4, ("WH-MAN", "TEE-M"): 2, ("STORE-LDN", "TEE-M"): 2}
    costs = [
        {"location": "WH-LDN", "per_shipment": "10.00", "per_unit": "0.00"},
        {"location": "WH-MAN", "per_shipment": "1.00", "per_unit": "0.00"},
        {"location": "STORE-LDN", "per_shipment": "1.00", "per_unit": "0.00"},
    ]
    body = question({"TEE-M": 4}, inventory, currency="GBP", shipping_costs=costs)

    split = post(api, OPTIMAL, body)
    whole = post(api, OPTIMAL, {**body, "split_penalty": "20.00"})

    assert split.json()["routes"] == [
        {
            "locations": ["STORE-LDN", "WH-MAN"],
            "allocations": [alloc("STORE-LDN", "TEE-M", 2), alloc("WH-MAN", "TEE-M", 2)],
            "cost": "2.00",
        }
    ]
    assert whole.json()["routes"] == [
        {"locations": ["WH-LDN"], "allocations": [alloc("WH-LDN", "TEE-M", 4)], "cost": "10.00"}
    ]


def test_optimal_without_costs_or_without_a_route(api: Api) -> None:
    free = post(api, OPTIMAL, question({"TEE-M": 3}, {("WH-MAN", "TEE-M"): 5}))
    none = post(api, OPTIMAL, question({"TEE-M": 9}, {("WH-MAN", "TEE-M"): 5}))

    assert free.json()["routes"] == [
        {"locations": ["WH-MAN"], "allocations": [alloc("WH-MAN", "TEE-M", 3)], "cost": None}
    ]
    assert (none.status_code, none.json()["routes"], none.json()["currency"]) == (200, [], None)


@pytest.mark.parametrize(
    ("extra", "code", "field"),
    [
        (
            {"shipping_costs": [{"location": "WH-MAN", "per_shipment": "1", "per_unit": "0"}]},
            "routing_input_invalid",
            "currency",
        ),
        ({"split_penalty": "1.00"}, "routing_input_invalid", "currency"),
        ({"currency": "XXY", "split_penalty": "1.00"}, "currency_unknown", "currency"),
        (
            {
                "currency": "GBP",
                "shipping_costs": [
                    {"location": "WH-MAN", "per_shipment": "1.001", "per_unit": "0"}
                ],
            },
            "amount_invalid",
            "shipping_costs[0].per_shipment",
        ),
        (
            {
                "currency": "GBP",
                "shipping_costs": [
                    {"location": "WH-MAN", "per_shipment": "1", "per_unit": "0"},
                    {"location": "WH-MAN", "per_shipment": "2", "per_unit": "0"},
                ],
            },
            "routing_input_invalid",
            "shipping_costs[1]",
        ),
    ],
)
def test_bad_costs_are_problems(api: Api, extra: dict[str, Any], code: str, field: str) -> None:
    response = post(api, OPTIMAL, question({"TEE-M": 1}, {("WH-MAN", "TEE-M"): 5}, **extra))

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == (code, field)
