"""`openoms import inventory FILE` through Typer's CliRunner, on a SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openoms.adapters.db import models as m
from openoms.adapters.db.migrate import upgrade
from openoms.adapters.db.session import Database
from openoms.cli import app
from tests.integration.helpers import stock_by_id


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("OPENOMS_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    db = Database(url)
    with db.transaction() as session:
        for ref in ("WH-1", "WH-2"):
            session.add(m.Location(id=f"loc_{ref}", ref=ref, name=ref, type="warehouse"))
        session.flush()
        session.add(m.InventoryRecord(location_id="loc_WH-1", sku="OLD", on_hand=5, reserved=2))
    yield db
    db.dispose()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["import", "inventory", *args])
    return result.exit_code, result.output


def test_a_jsonl_file_is_imported_with_a_summary(database: Database, tmp_path: Path) -> None:
    file = tmp_path / "stock.jsonl"
    lines = [
        {"location": "WH-1", "sku": f"S{n}", "on_hand": n, "record_id": f"r{n}"} for n in range(3)
    ]
    file.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, output = run(str(file), "--mode", "full")
    assert code == 0, output
    assert "3 records (full): 3 applied, 0 duplicate, 1 zeroed, 1 locations" in output
    assert stock_by_id(database) == {
        ("loc_WH-1", "OLD"): (0, 2),
        ("loc_WH-1", "S0"): (0, 0),
        ("loc_WH-1", "S1"): (1, 0),
        ("loc_WH-1", "S2"): (2, 0),
    }
    code, output = run(str(file))
    assert code == 0, output
    assert "3 records (delta): 0 applied, 3 duplicate, 0 zeroed, 1 locations" in output


def test_the_format_comes_from_the_extension_or_the_option(
    database: Database, tmp_path: Path
) -> None:
    csv_file = tmp_path / "stock.csv"
    csv_file.write_text("location,sku,on_hand,futures\nWH-2,A,4,3@2026-12-01\n")
    assert run(str(csv_file))[0] == 0
    other = tmp_path / "stock.txt"
    other.write_text("location,sku,on_hand\nWH-2,B,6\n")
    code, output = run(str(other))
    assert code == 1
    assert "pass --format" in output
    assert run(str(other), "--format", "csv")[0] == 0
    assert stock_by_id(database)[("loc_WH-2", "A")] == (4, 0)
    assert stock_by_id(database)[("loc_WH-2", "B")] == (6, 0)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "bad.csv",
            "location,sku,on_hand\nWH-1,A,1\nWH-1,B,-1\nWH-1,C\nWH-1,D,2\n",
            [
                "2 problem(s), nothing was applied",
                "line 3, field on_hand: Input should be greater than or equal to 0",
                "line 4: expected 3 fields (location, sku, on_hand), found 2",
            ],
        ),
        (
            "twice.csv",
            "location,sku,on_hand\nWH-1,A,1\nWH-1,A,2\n",
            [
                "1 problem(s), nothing was applied",
                "line 3, field sku: WH-1 / A is on line 2 too: list each location and SKU once",
            ],
        ),
        (
            "empty.jsonl",
            "",
            [
                "1 problem(s), nothing was applied",
                "line 1: the file holds no records (inventory_import_empty)",
            ],
        ),
    ],
)
def test_bad_lines_are_listed_and_nothing_is_applied(
    database: Database, tmp_path: Path, name: str, content: str, expected: list[str]
) -> None:
    before = stock_by_id(database)
    file = tmp_path / name
    file.write_text(content)
    code, output = run(str(file))
    assert code == 1
    for line in expected:
        assert line in output, output
    assert stock_by_id(database) == before


def test_unknown_locations_are_listed_and_nothing_is_applied(
    database: Database, tmp_path: Path
) -> None:
    before = stock_by_id(database)
    file = tmp_path / "stock.jsonl"
    file.write_text(
        '{"location": "WH-1", "sku": "A", "on_hand": 1}\n'
        '{"location": "WH-7", "sku": "B", "on_hand": 1}\n'
    )
    code, output = run(str(file))
    assert code == 1
    assert "line 2, field location: unknown location 'WH-7'" in output
    assert stock_by_id(database) == before


def test_a_missing_file_is_an_error(database: Database, tmp_path: Path) -> None:
    code, output = run(str(tmp_path / "nope.jsonl"))
    assert code == 1
    assert "no such file" in output
