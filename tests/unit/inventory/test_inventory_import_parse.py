"""Parsing inventory import lines (no database): strict fields, line numbers, CSV futures."""

from __future__ import annotations

from datetime import date

import pytest

from openoms.domain.file_lines import LineError
from openoms.schemas.inventory import ImportFormat, parse_inventory_lines
from openoms.services.inventory import InventoryLine


def test_jsonl_lines_become_records_with_their_line_numbers() -> None:
    lines = [
        '{"location": "WH-1", "sku": "TEE-M", "on_hand": 12}',
        "",
        '{"location": "WH-1", "sku": "MUG", "on_hand": 0, "safety_stock": 2, "record_id": "r-1",'
        ' "futures": [{"quantity": 5, "expected_date": "2026-12-24"},'
        ' {"quantity": 3, "expected_date": "2026-12-01"}]}',
    ]
    records, errors = parse_inventory_lines(lines, "jsonl")
    assert errors == []
    assert records == [
        InventoryLine(1, "WH-1", "TEE-M", 12),
        InventoryLine(
            3,
            "WH-1",
            "MUG",
            0,
            safety_stock=2,
            futures=((3, date(2026, 12, 1)), (5, date(2026, 12, 24))),
            record_id="r-1",
        ),
    ]


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ('{"location": "WH-1", "sku": "A", "on_hand": -1}', "on_hand", "greater than or equal"),
        ('{"location": "WH-1", "sku": "A", "on_hand": 1.5}', "on_hand", "valid integer"),
        ('{"location": "WH-1", "sku": "A", "on_hand": "5"}', "on_hand", "valid integer"),
        ('{"location": "WH-1", "sku": "A", "on_hand": 1.0}', "on_hand", "valid integer"),
        ('{"location": "WH-1", "sku": "A", "on_hand": 1, "colour": "red"}', "colour", "Extra"),
        ('{"location": "WH-1", "sku": "A"}', "on_hand", "Field required"),
        (
            '{"location": "WH-1", "sku": "A", "on_hand": 1, "futures": [{"quantity": 2}]}',
            "futures[0].expected_date",
            "Field required",
        ),
        (
            '{"location": "WH-1", "sku": "A", "on_hand": 1, "futures": '
            '[{"quantity": 2, "expected_date": "next week"}]}',
            "futures[0].expected_date",
            "valid date",
        ),
        ('{"location": "WH-1", "sku": "A", "on_hand": 1', None, "Invalid JSON"),
    ],
)
def test_a_bad_jsonl_line_is_reported_with_its_line_and_field(
    line: str, field: str | None, message: str
) -> None:
    good = '{"location": "WH-1", "sku": "OK", "on_hand": 1}'
    records, errors = parse_inventory_lines([good, line], "jsonl")
    assert [r.line for r in records] == [1]
    assert [(e.line, e.field) for e in errors] == [(2, field)]
    assert message in errors[0].message


def test_csv_rows_parse_like_json_lines_with_futures_as_quantity_at_date() -> None:
    lines = [
        "location,sku,on_hand,safety_stock,futures,record_id",
        "WH-1,TEE-M,12,2,10@2026-12-01; 5@2027-01-10,wms-1",
        "WH-1,MUG,3,,,",
        "",
        'WH-2,"SKU, WITH COMMA",0,0,,wms-3',
    ]
    records, errors = parse_inventory_lines(lines, "csv")
    assert errors == []
    assert records == [
        InventoryLine(
            2,
            "WH-1",
            "TEE-M",
            12,
            safety_stock=2,
            futures=((10, date(2026, 12, 1)), (5, date(2027, 1, 10))),
            record_id="wms-1",
        ),
        InventoryLine(3, "WH-1", "MUG", 3),
        InventoryLine(5, "WH-2", "SKU, WITH COMMA", 0, safety_stock=0, record_id="wms-3"),
    ]


def test_csv_columns_may_come_in_any_order_and_optional_ones_may_be_absent() -> None:
    records, errors = parse_inventory_lines(["on_hand,sku,location", "7,A,WH-1"], "csv")
    assert (records, errors) == ([InventoryLine(2, "WH-1", "A", 7)], [])


def test_csv_problems_name_line_and_field() -> None:
    lines = [
        "location,sku,on_hand,futures",
        "WH-1,A,-2,",
        "WH-1,B,1.5,",
        "WH-1,C,1,4",
        "WH-1,D,1,4@2026-02-30",
        "WH-1,E,1",
        "WH-1,F,1,2@2026-12-01",
    ]
    records, errors = parse_inventory_lines(lines, "csv")
    assert [r.sku for r in records] == ["F"]
    assert [(e.line, e.field) for e in errors] == [
        (2, "on_hand"),
        (3, "on_hand"),
        (4, "futures[0].expected_date"),
        (5, "futures[0].expected_date"),
        (6, None),
    ]
    assert errors[4] == LineError(
        6, None, "expected 4 fields (location, sku, on_hand, futures), found 3"
    )


def test_csv_header_must_name_known_columns_and_the_required_ones() -> None:
    records, errors = parse_inventory_lines(["location,sku,qty", "WH-1,A,1"], "csv")
    assert records == []
    assert [(e.line, e.field, e.message) for e in errors] == [
        (
            1,
            "qty",
            "unknown column (known: location, sku, on_hand, safety_stock, futures, record_id)",
        ),
        (1, "on_hand", "required column is missing"),
    ]


def test_csv_with_an_unterminated_quote_is_malformed() -> None:
    records, errors = parse_inventory_lines(
        ["location,sku,on_hand", 'WH-1,"A,1', "WH-1,B,2"], "csv"
    )
    assert records == []
    assert len(errors) == 1
    assert errors[0].message.startswith("malformed CSV")


@pytest.mark.parametrize(
    ("fmt", "lines", "line"),
    [
        ("csv", [], 1),
        ("csv", ["", "  "], 3),
        ("csv", ["location,sku,on_hand"], 2),
        ("jsonl", [], 1),
        ("jsonl", ["", " "], 3),
    ],
)
def test_a_file_without_records_is_refused(fmt: ImportFormat, lines: list[str], line: int) -> None:
    assert parse_inventory_lines(lines, fmt) == (
        [],
        [LineError(line, None, "the file holds no records", "inventory_import_empty")],
    )


def test_the_same_location_and_sku_twice_is_refused_unless_a_record_id_is_resent() -> None:
    lines = [
        '{"location": "WH-1", "sku": "A", "on_hand": 1, "record_id": "r1"}',
        '{"location": "WH-1", "sku": "A", "on_hand": 1, "record_id": "r1"}',
        '{"location": "WH-2", "sku": "A", "on_hand": 1}',
        '{"location": "WH-1", "sku": "A", "on_hand": 2, "record_id": "r2"}',
        '{"location": "WH-2", "sku": "A", "on_hand": 3}',
    ]
    records, errors = parse_inventory_lines(lines, "jsonl")
    assert len(records) == 5
    assert errors == [
        LineError(4, "sku", "WH-1 / A is on line 1 too: list each location and SKU once"),
        LineError(5, "sku", "WH-2 / A is on line 3 too: list each location and SKU once"),
    ]
