"""The project's own docs stay true: the lifecycle tables of docs/lifecycles.md are the
code's tables, and every link of the README and docs/ leads somewhere in the project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openoms.domain.fulfillment import (
    CATEGORY,
    FULFILLMENT_ORDER_TRANSITIONS,
    PROCESS_EXCEPTION_TRANSITIONS,
    SHIPMENT_TRANSITIONS,
)
from openoms.domain.order import ItemType
from openoms.domain.quantities import ItemQuantities, ItemStatus
from openoms.domain.returns import RETURN_ORDER_TRANSITIONS
from openoms.domain.summary import OrderSummaryStatus, derive_status

ROOT = Path(__file__).resolve().parents[3]
LIFECYCLES = ROOT / "docs" / "lifecycles.md"
TABLES = {
    "fulfillment_order": FULFILLMENT_ORDER_TRANSITIONS,
    "shipment": SHIPMENT_TRANSITIONS,
    "return_order": RETURN_ORDER_TRANSITIONS,
    "process_exception": PROCESS_EXCEPTION_TRANSITIONS,
}


def marked_table(marker: str) -> list[list[str]]:
    """The rows (cells stripped, header and rule left out) of the table that follows
    `<!-- marker -->` in docs/lifecycles.md."""
    lines = LIFECYCLES.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"<!-- {marker} -->") + 1
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[2:]


@pytest.mark.parametrize("lifecycle", TABLES)
def test_each_transition_table_is_the_codes(lifecycle: str) -> None:
    documented = {
        row[0]: set() if row[1] == "—" else set(row[1].split(", "))
        for row in marked_table(f"transitions: {lifecycle}")
    }
    assert documented == {
        status.value: {target.value for target in targets}
        for status, targets in TABLES[lifecycle].items()
    }


def test_the_fulfillment_status_categories_are_the_codes() -> None:
    rows = marked_table("transitions: fulfillment_order")
    assert {row[0]: row[2] for row in rows} == {s.value: c.value for s, c in CATEGORY.items()}


def test_item_statuses_are_listed_in_the_order_they_are_matched() -> None:
    rows = marked_table("derived: item")
    assert [row[0] for row in rows] == [status.value for status in ItemStatus]


# One product item whose counters match each documented row first (and no earlier one).
SUMMARY_EXAMPLES = {
    "CANCELED": ItemQuantities(ordered=2, canceled=2),
    "CLOSED": ItemQuantities(ordered=1, allocated=1, fulfilled=1, return_initiated=1, returned=1),
    "FULFILLED": ItemQuantities(ordered=1, allocated=1, fulfilled=1),
    "PARTIALLY_FULFILLED": ItemQuantities(ordered=2, allocated=2, fulfilled=1),
    "WAITING_TO_FULFILL": ItemQuantities(ordered=2, allocated=1),
    "CREATED": ItemQuantities(ordered=1),
}


def test_the_order_summary_status_rows_are_what_the_code_derives() -> None:
    rows = marked_table("derived: order_summary")
    assert [row[0] for row in rows] == list(SUMMARY_EXAMPLES)
    assert {row[0] for row in rows} == {status.value for status in OrderSummaryStatus}
    for status, quantities in SUMMARY_EXAMPLES.items():
        assert derive_status([(ItemType.PRODUCT, quantities)]) == status


@pytest.mark.parametrize(
    "page", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_links_lead_to_files_of_the_project(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if target.startswith(("http://", "https://")):
            continue
        assert (page.parent / target).resolve().exists(), f"{page.name} links {target}"
