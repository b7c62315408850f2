"""The flow condition language (domain/flows): reading a `when`, checking it against a
trigger's schema, and evaluating it against an event, amounts exact as decimals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.flows import (
    FlowInvalid,
    check_condition,
    envelope_schema,
    evaluate,
    field_kinds,
    parse_condition,
)
from openoms.schemas.events import BY_NAME

CREATED = envelope_schema(BY_NAME["order_summary.created"].payload.model_json_schema())
CHANGED = envelope_schema(BY_NAME["order_summary.changed"].payload.model_json_schema())


def event(grand_total: str = "150.00", channel: str = "web-uk", **data: Any) -> dict[str, Any]:
    return {
        "id": "evt_1",
        "type": "order_summary.created",
        "version": 1,
        "occurred_at": "2026-12-07T10:00:00Z",
        "data": {
            "channel": channel,
            "grand_total": grand_total,
            "totals": {"grand_total": grand_total},
            "delivery_groups": ["home", "store"],
            "backordered": [],
            **data,
        },
    }


def matches(when: Any, the_event: dict[str, Any], schema: Any = CREATED) -> bool:
    condition = parse_condition(when)
    return evaluate(condition, the_event, check_condition(condition, schema))


def invalid(when: Any, schema: Any = CREATED) -> FlowInvalid:
    with pytest.raises(FlowInvalid) as raised:
        check_condition(parse_condition(when), schema)
    return raised.value


ISSUE_EXAMPLE = {
    "all": [
        {"field": "data.totals.grand_total", "op": "gt", "value": "1000.00"},
        {"field": "data.channel", "op": "in", "value": ["web-uk", "web-de"]},
    ]
}


def test_the_issues_example_matches_a_big_web_order_only() -> None:
    assert matches(ISSUE_EXAMPLE, event("1000.01")) is True
    assert matches(ISSUE_EXAMPLE, event("1000.00")) is False
    assert matches(ISSUE_EXAMPLE, event("5000.00", channel="shop-fr")) is False


def test_amounts_compare_as_decimals_not_as_text() -> None:
    # As text "99.5" > "100.00"; as decimals it is not.
    assert (
        matches({"field": "data.grand_total", "op": "gt", "value": "100.00"}, event("99.5"))
        is False
    )
    assert (
        matches({"field": "data.grand_total", "op": "eq", "value": "150"}, event("150.00")) is True
    )
    assert matches({"field": "data.grand_total", "op": "le", "value": 150}, event("150.00")) is True
    assert (
        matches({"field": "data.grand_total", "op": "in", "value": ["1", "150.0"]}, event()) is True
    )


def test_plain_strings_compare_as_text() -> None:
    the_event = event(external_reference="00123")
    leaf = {"field": "data.external_reference", "op": "eq", "value": "123"}
    assert matches(leaf, the_event) is False


def test_any_not_exists_and_contains() -> None:
    either = {
        "any": [
            {"field": "data.channel", "op": "eq", "value": "x"},
            {"field": "data.delivery_groups", "op": "contains", "value": "store"},
        ]
    }
    assert matches(either, event()) is True
    assert matches({"not": either}, event()) is False
    assert matches({"field": "data.channel", "op": "contains", "value": "web"}, event()) is True
    assert matches({"field": "data.lifecycle", "op": "exists"}, event()) is False
    assert matches({"field": "data.lifecycle", "op": "exists", "value": False}, event()) is True
    assert matches({"field": "data.channel", "op": "not_in", "value": ["web-de"]}, event()) is True


def test_a_leaf_on_a_missing_field_is_false() -> None:
    assert matches({"field": "data.currency", "op": "ne", "value": "GBP"}, event()) is False
    assert matches({"field": "data.backordered.0.sku", "op": "eq", "value": "X"}, event()) is False


def test_no_condition_always_matches() -> None:
    assert matches(None, event()) is True


@pytest.mark.parametrize(
    ("when", "path", "words"),
    [
        ({"field": "data.nope", "op": "eq", "value": 1}, "when.field", "no field 'data.nope'"),
        (
            {
                "all": [
                    {"field": "data.channel", "op": "eq", "value": "a"},
                    {"field": "data.channel", "op": "gt", "value": "a"},
                ]
            },
            "when.all[1].op",
            "op gt does not fit 'data.channel', which is a string",
        ),
        (
            {"field": "data.totals.grand_total", "op": "gt", "value": 100.5},
            "when.value",
            "does not fit the field (amount)",
        ),
        (
            {"field": "data.totals.grand_total", "op": "gt", "value": "lots"},
            "when.value",
            "does not fit the field (amount)",
        ),
        (
            {"field": "data.channel", "op": "in", "value": "web-uk"},
            "when.value",
            "takes a non-empty list",
        ),
        (
            {"field": "data.channel", "op": "in", "value": ["a", 3]},
            "when.value[1]",
            "does not fit the field (string)",
        ),
        (
            {"field": "data.delivery_groups", "op": "contains", "value": 3},
            "when.value",
            "does not fit the field (string)",
        ),
        ({"field": "data.channel", "op": "like", "value": "a"}, "when.op", "unknown op 'like'"),
        ({"field": "data.channel", "op": "eq"}, "when.value", "needs a `value`"),
        ({"any": []}, "when.any", "non-empty list"),
        (
            {"all": [{"field": "data.channel", "op": "eq", "value": "a"}], "not": {}},
            "when",
            "exactly one key",
        ),
        (
            {"not": {"field": "data.channel", "op": "exists", "value": "yes"}},
            "when.not.value",
            "true or false",
        ),
        (
            {"field": "data.channel", "op": "eq", "value": "a", "extra": 1},
            "when",
            "unknown key 'extra'",
        ),
        ({"field": "data.delivery_groups", "op": "gt", "value": 1}, "when.op", "array"),
    ],
)
def test_an_invalid_condition_names_its_path(when: Any, path: str, words: str) -> None:
    error = invalid(when)
    assert error.field == path
    assert words in error.detail
    assert error.code == "flow_invalid"


def test_nullable_fields_and_refs_resolve() -> None:
    assert {k.value for k in field_kinds(CHANGED, "data.stage")} == {"string", "null"}
    assert {k.value for k in field_kinds(CHANGED, "data.lines.0.total")} == {"amount"}
    assert {k.value for k in field_kinds(CREATED, "version")} == {"integer"}
    assert field_kinds(CREATED, "data.totals.nope") == frozenset()


amounts = st.decimals(
    min_value=Decimal("-1e9"),
    max_value=Decimal("1e9"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
OPS = {
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
}


@given(
    total=amounts,
    threshold=amounts,
    op=st.sampled_from(sorted(OPS)),
    pad=st.integers(min_value=0, max_value=3),
)
def test_amount_comparisons_agree_with_exact_decimals(
    total: Decimal, threshold: Decimal, op: str, pad: int
) -> None:
    # The same amount written with more decimals ("150.00" / "150.0000") is the same amount.
    written = f"{total:.{2 + pad}f}"
    leaf = {"field": "data.totals.grand_total", "op": op, "value": f"{threshold:.2f}"}
    assert matches(leaf, event(written)) is OPS[op](total, threshold)


@given(total=amounts, threshold=amounts)
def test_not_is_the_complement(total: Decimal, threshold: Decimal) -> None:
    leaf = {"field": "data.totals.grand_total", "op": "gt", "value": f"{threshold:.2f}"}
    the_event = event(f"{total:.2f}")
    assert matches({"not": leaf}, the_event) is not matches(leaf, the_event)
