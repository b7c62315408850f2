"""`openoms locations import|list` against the `db` fixture, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.cli import app
from openoms.services.inventory import get_location, list_groups, location_group_refs
from tests.integration.helpers import count

runner = CliRunner()


@pytest.fixture(autouse=True)
def _database_url(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENOMS_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))


def counts(db: Database) -> tuple[int, int, int, int]:
    models = (m.Location, m.LocationGroup, m.LocationGroupMember, m.Event)
    return tuple(count(db, model) for model in models)  # type: ignore[return-value]


def line(ref: str, **overrides: Any) -> str:
    body: dict[str, Any] = {
        "ref": ref,
        "name": f"Location {ref}",
        "type": "warehouse",
        "address": {"line1": "1 Dock Rd", "city": "Leeds", "country": "GB"},
        "can_ship": True,
        "can_pickup": False,
        "groups": ["online"],
        **overrides,
    }
    return json.dumps(body)


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_imports_json_lines(db: Database, tmp_path: Path) -> None:
    file = tmp_path / "locations.jsonl"
    file.write_text(
        "\n".join(
            [
                line("WH-1", daily_capacity=100),
                "",
                line(
                    "STORE-LDN",
                    type="store",
                    can_pickup=True,
                    groups=["online", "stores"],
                    shipping_costs=[{"country": "*", "currency": "GBP", "per_shipment": "4.5"}],
                ),
            ]
        )
    )

    result = invoke("locations", "import", str(file))

    assert result.exit_code == 0, result.output
    assert "imported 2 locations: 2 created, 0 updated" in result.output
    with db.reading() as session:
        store = get_location(session, "STORE-LDN")
        assert (store.type, store.can_pickup, store.shipping_costs) == (
            "store",
            True,
            [{"country": "*", "currency": "GBP", "per_shipment": 450, "per_unit": 0}],
        )
        assert get_location(session, "WH-1").daily_capacity == 100
        assert [(g.ref, refs) for g, refs in list_groups(session)] == [
            ("online", ["STORE-LDN", "WH-1"]),
            ("stores", ["STORE-LDN"]),
        ]
    assert counts(db) == (2, 2, 3, 4)

    again = invoke("locations", "import", str(file))

    assert again.exit_code == 0, again.output
    assert "imported 2 locations: 0 created, 2 updated" in again.output
    assert counts(db) == (2, 2, 3, 4)  # nothing changed: no new events


HEADER = (
    "ref,name,type,line1,city,region,postal_code,country,lat,lon,can_ship,can_pickup,active,"
    "daily_capacity,groups\n"
)
CSV = (
    HEADER
    + "WH-1,Leeds warehouse,warehouse,1 Dock Rd,Leeds,,LS1 1AA,GB,53.8,-1.55,true,false,,250,"
    "online|north\n"
    '"STORE-LDN","Store, London",store,"2 High St",London,,,GB,,,no,yes,false,,\n'
)


def test_imports_csv(db: Database, tmp_path: Path) -> None:
    file = tmp_path / "locations.csv"
    file.write_text(CSV)

    result = invoke("locations", "import", str(file))

    assert result.exit_code == 0, result.output
    with db.reading() as session:
        wh = get_location(session, "WH-1")
        store = get_location(session, "STORE-LDN")
        groups = location_group_refs(session, [wh.id, store.id])
        assert (wh.name, wh.postal_code, wh.lat, wh.lon, wh.active, wh.daily_capacity) == (
            "Leeds warehouse",
            "LS1 1AA",
            53.8,
            -1.55,
            True,
            250,
        )
        assert groups == {wh.id: ["north", "online"]}
        assert (store.name, store.can_ship, store.can_pickup, store.active, store.lat) == (
            "Store, London",
            False,
            True,
            False,
            None,
        )

    listed = invoke("locations", "list", "--group", "online")
    assert listed.exit_code == 0, listed.output
    assert "WH-1" in listed.output
    assert "STORE-LDN" not in listed.output
    assert "\n1 location\n" in listed.output


def test_a_bad_json_lines_file_is_rejected_whole(db: Database, tmp_path: Path) -> None:
    file = tmp_path / "locations.jsonl"
    file.write_text(
        "\n".join(
            [
                line("WH-1"),
                line("WH-2", type="depot"),
                "{not json",
                line("WH 3"),
                line(
                    "WH-4",
                    shipping_costs=[{"country": "GB", "currency": "GBP", "per_shipment": "1.234"}],
                ),
                line("WH-1", name="again"),
                line("WH-6", address={"line1": "x", "city": "y", "country": "GBR"}),
            ]
        )
    )

    result = invoke("locations", "import", str(file))

    assert result.exit_code == 1
    output = result.output
    for expected in (
        "line 2, field type: Input should be 'warehouse', 'store', '3pl' or 'dropship'",
        "line 3: not valid JSON",
        "line 4, field ref: 'WH 3' is not a valid reference",
        "line 5, field shipping_costs[0].per_shipment: '1.234' has more than 2 decimal places "
        "for GBP",
        "line 6, field ref: 'WH-1' is also on line 1",
        "line 7, field address.country: String should match pattern",
        "6 bad line(s) in locations.jsonl; nothing was imported",
    ):
        assert expected in output, output
    assert "line 1" not in output.replace("also on line 1", "")
    assert counts(db) == (0, 0, 0, 0)


def test_a_bad_csv_file_is_rejected_whole(db: Database, tmp_path: Path) -> None:
    file = tmp_path / "locations.csv"
    file.write_text(
        CSV
        + "WH-9,Nine,warehouse,1 Rd,York,,,GB,200,0,true,false,,,online\n"
        + "WH-10,Ten,warehouse,1 Rd,York,,,GB,,,maybe,false,,-1,on line\n"
    )

    result = invoke("locations", "import", str(file))

    assert result.exit_code == 1
    for expected in (
        "line 4, field lat: Input should be less than or equal to 90",
        "line 5, field can_ship: Input should be a valid boolean",
        "line 5, field daily_capacity: Input should be greater than or equal to 0",
        "2 bad line(s) in locations.csv; nothing was imported",
    ):
        assert expected in result.output, result.output
    assert counts(db) == (0, 0, 0, 0)


def test_a_csv_with_an_unknown_column_is_rejected(db: Database, tmp_path: Path) -> None:
    file = tmp_path / "locations.csv"
    file.write_text("ref,name,type,line1,city,country,can_ship,can_pickup,colour\n")

    result = invoke("locations", "import", str(file))

    assert result.exit_code == 1
    assert "line 1, field colour: unknown column" in result.output
    assert counts(db) == (0, 0, 0, 0)
