"""Inventory over the HTTP API on SQLite and PostgreSQL: availability, imports, records."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.api.inventory.router import current_date
from openoms.schemas.inventory import parse_inventory_lines
from openoms.services.inventory import apply_inventory_import
from tests.integration.conftest import Api
from tests.integration.helpers import count

# Futures count from the app's today, fixed here so that no run sees it change (a run
# crossing midnight would otherwise move the 30-day horizon under the test).
TODAY = date(2026, 11, 20)


@pytest.fixture
def api(api: Api) -> Api:
    """The app, its today fixed at TODAY."""
    api.client.app.dependency_overrides[current_date] = lambda: TODAY  # type: ignore[attr-defined]
    return api


NDJSON = {"Content-Type": "application/x-ndjson"}
CSV = {"Content-Type": "text/csv"}


# --- helpers ------------------------------------------------------------------------------


def add_location(
    db: Database, ref: str, *, active: bool = True, groups: tuple[str, ...] = ()
) -> str:
    location_id = f"loc_{ref}"
    with db.transaction() as session:
        session.add(m.Location(id=location_id, ref=ref, name=ref, type="warehouse", active=active))
        session.flush()
        for group in groups:
            group_id = f"grp_{group}"
            if session.get(m.LocationGroup, group_id) is None:
                session.add(m.LocationGroup(id=group_id, ref=group, name=group))
                session.flush()
            session.add(m.LocationGroupMember(group_id=group_id, location_id=location_id))
    return location_id


def add_group(db: Database, ref: str) -> None:
    with db.transaction() as session:
        session.add(m.LocationGroup(id=f"grp_{ref}", ref=ref, name=ref))


def set_record(
    db: Database,
    location: str,
    sku: str,
    *,
    on_hand: int = 0,
    reserved: int = 0,
    safety_stock: int = 0,
    futures: list[tuple[int, date]] = (),  # type: ignore[assignment]
) -> None:
    with db.transaction() as session:
        session.add(
            m.InventoryRecord(
                location_id=f"loc_{location}",
                sku=sku,
                on_hand=on_hand,
                reserved=reserved,
                safety_stock=safety_stock,
                futures=[{"quantity": q, "expected_date": d.isoformat()} for q, d in futures],
            )
        )


def records(db: Database) -> dict[tuple[str, str], tuple[int, int, int, list[Any]]]:
    """Every record: (location ref, sku) → (on_hand, reserved, safety_stock, futures)."""
    with db.reading() as session:
        rows = session.execute(
            select(
                m.Location.ref,
                m.InventoryRecord.sku,
                m.InventoryRecord.on_hand,
                m.InventoryRecord.reserved,
                m.InventoryRecord.safety_stock,
                m.InventoryRecord.futures,
            ).join(m.Location, m.Location.id == m.InventoryRecord.location_id)
        )
        return {(r[0], r[1]): (r[2], r[3], r[4], r[5]) for r in rows}


def events(db: Database, name: str) -> list[dict[str, Any]]:
    with db.reading() as session:
        return [
            e.payload
            for e in session.scalars(
                select(m.Event).where(m.Event.name == name).order_by(m.Event.id)
            )
        ]


def availability(api: Api, scope: str = "storefront", **body: Any) -> Any:
    return api.client.post(
        "/api/v1/inventory/actions/get-availability", json=body, headers=api.headers(scope)
    )


def figures(on_hand: int, reserved: int, safety_stock: int, atf: int, ato: int) -> dict[str, int]:
    return {
        "on_hand": on_hand,
        "reserved": reserved,
        "safety_stock": safety_stock,
        "available_to_fulfill": atf,
        "available_to_order": ato,
    }


def by_sku(entry: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {
        r["sku"]: {k: v for k, v in r.items() if k != "sku"} for r in entry["inventory_records"]
    }


def jsonl(*lines: dict[str, Any]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


def post_import(
    api: Api,
    body: str,
    *,
    mode: str = "delta",
    headers: dict[str, str] = NDJSON,
    scope: str = "warehouse",
) -> Any:
    return api.client.post(
        f"/api/v1/inventory/import?mode={mode}",
        content=body.encode(),
        headers=api.headers(scope, **headers),
    )


@pytest.fixture
def network(api: Api) -> Api:
    """WH-1 and WH-2 (group online), STORE-1 (groups online and stores), CLOSED (inactive,
    group online), and stock of TEE-M and MUG."""
    add_location(api.db, "WH-1", groups=("online",))
    add_location(api.db, "WH-2", groups=("online",))
    add_location(api.db, "STORE-1", groups=("online", "stores"))
    add_location(api.db, "CLOSED", active=False, groups=("online",))
    set_record(
        api.db,
        "WH-1",
        "TEE-M",
        on_hand=10,
        reserved=2,
        safety_stock=1,
        futures=[(5, TODAY + timedelta(days=10)), (7, TODAY + timedelta(days=40))],
    )
    set_record(api.db, "WH-2", "TEE-M", on_hand=4)
    set_record(api.db, "STORE-1", "TEE-M", on_hand=1, reserved=3)  # oversold: -2
    set_record(api.db, "CLOSED", "TEE-M", on_hand=50)
    set_record(api.db, "WH-1", "MUG", on_hand=6, safety_stock=6, futures=[(2, TODAY)])
    return api


# --- availability -------------------------------------------------------------------------


def test_availability_per_location_is_exact(network: Api) -> None:
    response = availability(network, skus=["TEE-M", "MUG", "NEW"], locations=["WH-1", "STORE-1"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["location_groups"] == []
    assert [entry["location"] for entry in body["locations"]] == ["WH-1", "STORE-1"]
    wh1, store = body["locations"]
    assert [r["sku"] for r in wh1["inventory_records"]] == ["TEE-M", "MUG", "NEW"]
    assert by_sku(wh1) == {
        "TEE-M": figures(10, 2, 1, 7, 12),  # the day-40 future is past the horizon
        "MUG": figures(6, 0, 6, 0, 2),
        "NEW": figures(0, 0, 0, 0, 0),
    }
    assert by_sku(store) == {
        "TEE-M": figures(1, 3, 0, -2, -2),
        "MUG": figures(0, 0, 0, 0, 0),
        "NEW": figures(0, 0, 0, 0, 0),
    }


def test_availability_of_a_group_sums_its_active_locations(network: Api) -> None:
    response = availability(
        network, "agent", skus=["TEE-M", "MUG"], location_groups=["online", "stores"]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["locations"] == []
    online, stores = body["location_groups"]
    assert (online["location_group"], stores["location_group"]) == ("online", "stores")
    # CLOSED is inactive: left out. STORE-1 is short by 2: counts as 0, not -2.
    assert by_sku(online) == {
        "TEE-M": figures(15, 5, 1, 7 + 4, 12 + 4),
        "MUG": figures(6, 0, 6, 0, 2),
    }
    assert by_sku(stores) == {
        "TEE-M": figures(1, 3, 0, 0, 0),
        "MUG": figures(0, 0, 0, 0, 0),
    }


def test_availability_of_locations_and_groups_together(network: Api) -> None:
    body = availability(
        network, "warehouse", skus=["TEE-M"], locations=["WH-2"], location_groups=["stores"]
    ).json()
    assert [(e["location"], by_sku(e)) for e in body["locations"]] == [
        ("WH-2", {"TEE-M": figures(4, 0, 0, 4, 4)})
    ]
    assert [(e["location_group"], by_sku(e)) for e in body["location_groups"]] == [
        ("stores", {"TEE-M": figures(1, 3, 0, 0, 0)})
    ]


def test_availability_defaults_to_every_active_location(network: Api) -> None:
    body = availability(network, skus=["TEE-M"]).json()
    assert body["location_groups"] == []
    assert {e["location"]: by_sku(e)["TEE-M"] for e in body["locations"]} == {
        "STORE-1": figures(1, 3, 0, -2, -2),
        "WH-1": figures(10, 2, 1, 7, 12),
        "WH-2": figures(4, 0, 0, 4, 4),
    }
    assert [e["location"] for e in body["locations"]] == ["STORE-1", "WH-1", "WH-2"]


def test_availability_of_an_empty_group_is_zero(network: Api) -> None:
    add_group(network.db, "empty")
    body = availability(network, skus=["TEE-M"], location_groups=["empty"]).json()
    assert by_sku(body["location_groups"][0]) == {"TEE-M": figures(0, 0, 0, 0, 0)}


def test_futures_count_within_the_thirty_day_horizon_only(api: Api) -> None:
    add_location(api.db, "WH-1")
    set_record(
        api.db,
        "WH-1",
        "A",
        on_hand=1,
        futures=[
            (1, TODAY - timedelta(days=2)),  # overdue: still expected
            (10, TODAY + timedelta(days=30)),  # last day of the horizon
            (100, TODAY + timedelta(days=31)),  # past it
        ],
    )
    body = availability(api, skus=["A"], locations=["WH-1"]).json()
    assert by_sku(body["locations"][0]) == {"A": figures(1, 0, 0, 1, 12)}


def test_repeated_skus_and_locations_are_answered_once(network: Api) -> None:
    body = availability(network, skus=["MUG", "MUG"], locations=["WH-1", "WH-1"]).json()
    assert [e["location"] for e in body["locations"]] == ["WH-1"]
    assert [r["sku"] for r in body["locations"][0]["inventory_records"]] == ["MUG"]


def test_more_than_100_skus_is_too_large(network: Api) -> None:
    ok = availability(network, skus=[f"S{n}" for n in range(100)], locations=["WH-1"])
    assert ok.status_code == 200
    response = availability(network, skus=[f"S{n}" for n in range(101)], locations=["WH-1"])
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "availability_request_too_large"
    assert problem["field"] == "skus"
    assert problem["detail"].startswith("101 SKUs asked for; at most 100")


def test_more_than_100_locations_and_groups_is_too_large(network: Api) -> None:
    response = availability(
        network,
        skus=["TEE-M"],
        locations=[f"L{n}" for n in range(100)],
        location_groups=["online"],
    )
    assert response.status_code == 400
    assert response.json()["code"] == "availability_request_too_large"
    assert response.json()["detail"].startswith("101 locations and location groups")


def test_default_over_more_than_100_active_locations_is_too_large(api: Api) -> None:
    with api.db.transaction() as session:
        session.add_all(
            m.Location(id=f"loc_{n}", ref=f"L{n:03}", name="x", type="store") for n in range(101)
        )
    response = availability(api, skus=["A"])
    assert response.status_code == 400
    assert response.json()["code"] == "availability_request_too_large"


def test_unknown_location_or_group_is_named(network: Api) -> None:
    response = availability(network, skus=["TEE-M"], locations=["WH-1", "WH-9"])
    assert response.status_code == 404
    assert response.json()["code"] == "location_not_found"
    assert "'WH-9'" in response.json()["detail"]
    response = availability(network, skus=["TEE-M"], location_groups=["offline"])
    assert response.status_code == 404
    assert response.json()["code"] == "location_group_not_found"
    assert "'offline'" in response.json()["detail"]


def test_availability_needs_skus_and_a_key(network: Api) -> None:
    assert availability(network, skus=[]).status_code == 422
    response = network.client.post(
        "/api/v1/inventory/actions/get-availability", json={"skus": ["A"]}
    )
    assert response.status_code == 401


# --- imports ------------------------------------------------------------------------------


def test_delta_import_sets_listed_records_and_leaves_the_rest(network: Api) -> None:
    before = records(network.db)
    body = jsonl(
        {"location": "WH-1", "sku": "TEE-M", "on_hand": 20},
        {
            "location": "WH-2",
            "sku": "NEW",
            "on_hand": 3,
            "safety_stock": 1,
            "futures": [{"quantity": 9, "expected_date": "2027-01-05"}],
        },
    )
    response = post_import(network, body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result.pop("import_id").startswith("imp_")
    assert result == {
        "mode": "delta",
        "records": 2,
        "applied": 2,
        "skipped_duplicates": 0,
        "zeroed": 0,
        "locations_touched": 2,
    }
    after = records(network.db)
    # on_hand replaced; reserved, safety stock and futures (not given) kept
    assert after[("WH-1", "TEE-M")] == (20, 2, 1, before[("WH-1", "TEE-M")][3])
    assert after[("WH-2", "NEW")] == (3, 0, 1, [{"quantity": 9, "expected_date": "2027-01-05"}])
    unchanged = {k: v for k, v in after.items() if k not in {("WH-1", "TEE-M"), ("WH-2", "NEW")}}
    assert unchanged == {k: v for k, v in before.items() if k != ("WH-1", "TEE-M")}
    assert events(network.db, "inventory.imported") == [
        {**result, "import_id": response.json()["import_id"]}
    ]


def test_given_safety_stock_and_futures_replace_and_an_empty_list_clears(network: Api) -> None:
    body = jsonl(
        {"location": "WH-1", "sku": "TEE-M", "on_hand": 9, "safety_stock": 0, "futures": []},
    )
    assert post_import(network, body).status_code == 200
    assert records(network.db)[("WH-1", "TEE-M")] == (9, 2, 0, [])


def test_full_import_zeroes_unlisted_skus_of_listed_locations_and_keeps_reservations(
    network: Api,
) -> None:
    set_record(network.db, "WH-1", "CAP", on_hand=0, reserved=0)
    before = records(network.db)
    body = jsonl(
        {"location": "WH-1", "sku": "TEE-M", "on_hand": 1},  # below its 2 reserved
        {"location": "WH-1", "sku": "SOCK", "on_hand": 8},
    )
    response = post_import(network, body, mode="full")
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["mode"], result["applied"], result["zeroed"], result["locations_touched"]) == (
        "full",
        2,
        1,  # MUG; CAP was already 0
        1,
    )
    after = records(network.db)
    assert after[("WH-1", "TEE-M")][:3] == (1, 2, 1)  # reserved kept above on_hand
    assert after[("WH-1", "SOCK")][:3] == (8, 0, 0)
    assert after[("WH-1", "MUG")] == (0, 0, 6, before[("WH-1", "MUG")][3])
    assert after[("WH-1", "CAP")] == before[("WH-1", "CAP")]
    for key in [("WH-2", "TEE-M"), ("STORE-1", "TEE-M"), ("CLOSED", "TEE-M")]:
        assert after[key] == before[key]  # other locations untouched
    tee = by_sku(availability(network, skus=["TEE-M"], locations=["WH-1"]).json()["locations"][0])
    assert tee["TEE-M"] == figures(1, 2, 1, -2, 3)


def test_full_import_keeps_reserved_on_the_records_it_zeroes(network: Api) -> None:
    body = jsonl({"location": "STORE-1", "sku": "OTHER", "on_hand": 5})
    result = post_import(network, body, mode="full").json()
    assert result["zeroed"] == 1
    assert records(network.db)[("STORE-1", "TEE-M")][:2] == (0, 3)


def test_csv_import_applies_the_same_columns(network: Api) -> None:
    body = (
        "location,sku,on_hand,safety_stock,futures,record_id\n"
        "WH-2,TEE-M,7,1,4@2026-12-01;6@2026-11-30,wms-1\n"
        "WH-2,HAT,2,,,\n"
    )
    response = post_import(network, body, headers=CSV)
    assert response.status_code == 200, response.text
    assert response.json()["applied"] == 2
    after = records(network.db)
    assert after[("WH-2", "TEE-M")] == (
        7,
        0,
        1,
        [
            {"quantity": 6, "expected_date": "2026-11-30"},
            {"quantity": 4, "expected_date": "2026-12-01"},
        ],
    )
    assert after[("WH-2", "HAT")] == (2, 0, 0, [])


@pytest.mark.parametrize(
    ("headers", "body", "line"),
    [
        (
            NDJSON,
            jsonl(
                {"location": "WH-2", "sku": "TEE-M", "on_hand": 1},
                {"location": "WH-1", "sku": "TEE-M", "on_hand": 5},
                {"location": "WH-2", "sku": "TEE-M", "on_hand": 2},
            ),
            3,
        ),
        (CSV, "location,sku,on_hand\nWH-2,TEE-M,1\nWH-1,TEE-M,5\nWH-2,TEE-M,2\n", 4),
    ],
)
def test_the_same_location_and_sku_twice_is_refused_naming_both_lines(
    network: Api, headers: dict[str, str], body: str, line: int
) -> None:
    before = records(network.db)
    response = post_import(network, body, headers=headers)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "inventory_import_invalid"
    first = line - 2
    assert problem["errors"] == [
        {
            "line": line,
            "field": "sku",
            "message": f"WH-2 / TEE-M is on line {first} too: list each location and SKU once",
        }
    ]
    assert records(network.db) == before
    assert events(network.db, "inventory.imported") == []


@pytest.mark.parametrize(
    ("headers", "body", "line"),
    [(NDJSON, "", 1), (NDJSON, "\n\n", 3), (CSV, "location,sku,on_hand\n", 2)],
)
def test_an_import_without_records_is_refused(
    network: Api, headers: dict[str, str], body: str, line: int
) -> None:
    before = records(network.db)
    response = post_import(network, body, headers=headers, mode="full")
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "inventory_import_empty"
    assert problem["errors"] == [
        {"line": line, "field": None, "message": "the file holds no records"}
    ]
    assert records(network.db) == before
    assert events(network.db, "inventory.imported") == []


def test_record_ids_make_a_repeated_import_change_nothing(network: Api) -> None:
    body = jsonl(
        {"location": "WH-2", "sku": "TEE-M", "on_hand": 30, "record_id": "wms-1"},
        {"location": "WH-2", "sku": "HAT", "on_hand": 4, "record_id": "wms-2"},
        {"location": "WH-2", "sku": "HAT", "on_hand": 9, "record_id": "wms-2"},  # repeat
    )
    first = post_import(network, body).json()
    assert (first["applied"], first["skipped_duplicates"]) == (2, 1)
    # a newer message moves the stock on; the old file arrives again
    assert (
        post_import(network, jsonl({"location": "WH-2", "sku": "TEE-M", "on_hand": 12})).status_code
        == 200
    )
    snapshot = records(network.db)
    again = post_import(network, body).json()
    assert (again["records"], again["applied"], again["skipped_duplicates"]) == (3, 0, 3)
    assert records(network.db) == snapshot
    assert snapshot[("WH-2", "TEE-M")][0] == 12
    assert snapshot[("WH-2", "HAT")][0] == 4
    assert count(network.db, m.InventoryImportRecord) == 2


def test_a_repeated_full_import_does_not_zero_what_it_lists(network: Api) -> None:
    body = jsonl(
        {"location": "WH-2", "sku": "TEE-M", "on_hand": 30, "record_id": "snap-1"},
        {"location": "WH-2", "sku": "HAT", "on_hand": 4, "record_id": "snap-2"},
    )
    assert post_import(network, body, mode="full").json()["applied"] == 2
    again = post_import(network, body, mode="full").json()
    assert (again["applied"], again["skipped_duplicates"], again["zeroed"]) == (0, 2, 0)
    assert records(network.db)[("WH-2", "TEE-M")][0] == 30
    assert records(network.db)[("WH-2", "HAT")][0] == 4


BAD_LINES = [
    pytest.param(
        NDJSON,
        jsonl(
            {"location": "WH-1", "sku": "A", "on_hand": 1},
            {"location": "WH-9", "sku": "B", "on_hand": 1},
        ),
        [{"line": 2, "field": "location", "message": "unknown location 'WH-9'"}],
        id="unknown-location",
    ),
    pytest.param(
        NDJSON,
        jsonl(
            {"location": "WH-1", "sku": "A", "on_hand": 1},
            {"location": "WH-1", "sku": "B", "on_hand": -1},
        ),
        [{"line": 2, "field": "on_hand", "message": "Input should be greater than or equal to 0"}],
        id="negative-on-hand",
    ),
    pytest.param(
        NDJSON,
        jsonl(
            {"location": "WH-1", "sku": "A", "on_hand": 1},
            {"location": "WH-1", "sku": "B", "on_hand": 1, "futures": [{"quantity": 3}]},
        ),
        [{"line": 2, "field": "futures[0].expected_date", "message": "Field required"}],
        id="future-without-date",
    ),
    pytest.param(
        NDJSON,
        jsonl({"location": "WH-1", "sku": "A", "on_hand": 2.5}),
        [{"line": 1, "field": "on_hand", "message": "Input should be a valid integer"}],
        id="fractional-quantity",
    ),
    pytest.param(
        CSV,
        "location,sku,on_hand\nWH-1,A,1\nWH-1,B\nWH-1,C,x\n",
        [
            {
                "line": 3,
                "field": None,
                "message": "expected 3 fields (location, sku, on_hand), found 2",
            },
            {"line": 4, "field": "on_hand", "message": "Input should be a valid integer"},
        ],
        id="malformed-csv",
    ),
]


@pytest.mark.parametrize(("headers", "body", "expected"), BAD_LINES)
@pytest.mark.parametrize("mode", ["delta", "full"])
def test_bad_lines_apply_nothing(
    network: Api, mode: str, headers: dict[str, str], body: str, expected: list[dict[str, Any]]
) -> None:
    before = records(network.db)
    response = post_import(network, body, mode=mode, headers=headers)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "inventory_import_invalid"
    assert problem["errors"] == expected
    assert problem["error_count"] == len(expected)
    assert records(network.db) == before
    assert count(network.db, m.InventoryImportRecord) == 0
    assert events(network.db, "inventory.imported") == []


def test_import_needs_a_known_content_type_and_the_warehouse_scope(network: Api) -> None:
    body = jsonl({"location": "WH-1", "sku": "A", "on_hand": 1})
    response = post_import(network, body, headers={"Content-Type": "application/xml"})
    assert response.status_code == 415
    assert response.json()["code"] == "import_format_unsupported"
    assert post_import(network, body, scope="storefront").status_code == 403
    assert post_import(network, body, scope="agent").status_code == 403
    assert post_import(network, body, mode="everything").status_code == 422
    assert post_import(network, body, scope="admin").status_code == 200
    assert (
        post_import(
            network, body, headers={"Content-Type": "application/jsonl; charset=utf-8"}
        ).status_code
        == 200
    )


def test_imports_are_applied_in_batches(network: Api) -> None:

    lines = [
        json.dumps({"location": "WH-2", "sku": f"S{n:03}", "on_hand": n, "record_id": f"r{n % 40}"})
        for n in range(95)
    ]
    parsed, errors = parse_inventory_lines(lines, "jsonl")
    assert errors == []
    progress: list[int] = []
    result = apply_inventory_import(
        network.db,
        network.client.app.state.outbox,  # type: ignore[attr-defined]
        parsed,
        mode="full",
        on_progress=progress.append,
        batch_size=10,
    )
    assert progress == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    assert (result.applied, result.skipped_duplicates, result.zeroed) == (40, 55, 1)
    after = records(network.db)
    assert {k[1]: v[0] for k, v in after.items() if k[0] == "WH-2"} == {
        **{f"S{n:03}": n for n in range(40)},
        "TEE-M": 0,
    }


# --- records ------------------------------------------------------------------------------


def test_records_are_listed_a_page_at_a_time(network: Api) -> None:
    headers = network.headers("agent")
    page = network.client.get("/api/v1/inventory?location=WH-1&limit=1", headers=headers).json()
    assert [(r["location"], r["sku"]) for r in page["items"]] == [("WH-1", "TEE-M")]
    first = page["items"][0]
    assert {
        k: first[k]
        for k in (
            "on_hand",
            "reserved",
            "safety_stock",
            "available_to_fulfill",
            "available_to_order",
        )
    } == figures(10, 2, 1, 7, 12)
    assert [f["quantity"] for f in first["futures"]] == [5, 7]
    cursor = page["next_cursor"]
    assert cursor
    page = network.client.get(
        f"/api/v1/inventory?location=WH-1&limit=1&cursor={cursor}", headers=headers
    ).json()
    assert [(r["location"], r["sku"]) for r in page["items"]] == [("WH-1", "MUG")]
    assert page["next_cursor"] is None
    by_sku_page = network.client.get("/api/v1/inventory?sku=TEE-M", headers=headers).json()
    assert [r["location"] for r in by_sku_page["items"]] == ["WH-1", "WH-2", "STORE-1", "CLOSED"]
    unknown = network.client.get("/api/v1/inventory?location=NOPE", headers=headers)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "location_not_found")
    assert (
        network.client.get("/api/v1/inventory", headers=network.headers("storefront")).status_code
        == 403
    )


# --- concurrency --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_imports_never_lose_or_double_count_concurrent_reservations(api: Api) -> None:
    """One thread keeps importing on_hand for a SKU while others reserve and release it
    with conditional updates: at the end, reserved is exactly the net of what succeeded."""

    db, outbox = api.db, api.client.app.state.outbox  # type: ignore[attr-defined]
    add_location(db, "WH-1")
    set_record(db, "WH-1", "HOT", on_hand=1_000)
    stop = threading.Event()
    failures: list[BaseException] = []
    nets = [0] * 6
    imports = [0]
    record = (m.InventoryRecord.location_id == "loc_WH-1") & (m.InventoryRecord.sku == "HOT")
    table = m.InventoryRecord

    def importer() -> None:
        try:
            n = 0
            while not stop.is_set():
                n += 1
                line = json.dumps(
                    {"location": "WH-1", "sku": "HOT", "on_hand": 400 + (n * 37) % 600}
                )
                other = json.dumps({"location": "WH-1", "sku": f"X{n % 7}", "on_hand": n})
                parsed, _ = parse_inventory_lines([other, line], "jsonl")
                apply_inventory_import(db, outbox, parsed, mode="delta")
                imports[0] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    def reserver(slot: int) -> None:
        try:
            for i in range(150):
                with db.transaction() as session:
                    if i % 3 == 2:
                        changed = session.execute(
                            update(table)
                            .where(record, table.reserved >= 1)
                            .values(reserved=table.reserved - 1)
                        ).rowcount  # type: ignore[attr-defined]
                        nets[slot] -= changed
                    else:
                        changed = session.execute(
                            update(table)
                            .where(record, table.on_hand - table.reserved - table.safety_stock >= 1)
                            .values(reserved=table.reserved + 1)
                        ).rowcount  # type: ignore[attr-defined]
                        nets[slot] += changed
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=reserver, args=(slot,)) for slot in range(6)]
    importing = threading.Thread(target=importer)
    importing.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    importing.join()
    assert failures == []
    assert imports[0] > 0
    assert sum(nets) > 0
    on_hand, reserved, _, _ = records(db)[("WH-1", "HOT")]
    assert reserved == sum(nets)
    assert 400 <= on_hand < 1_000
