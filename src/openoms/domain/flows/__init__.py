"""Flows (docs/flows.md): a flow's condition, read from its document, checked against its
trigger's schema and evaluated against the event as delivered. Pure: no I/O."""

from openoms.domain.flows.conditions import (
    AMOUNT_PATTERN,
    All,
    AnyOf,
    Condition,
    FieldKind,
    FlowInvalid,
    Leaf,
    Not,
    Op,
    as_decimal,
    evaluate,
    leaves,
    lookup,
    parse_condition,
)
from openoms.domain.flows.fields import (
    check_condition,
    envelope_schema,
    field_kinds,
)

__all__ = [
    "AMOUNT_PATTERN",
    "All",
    "AnyOf",
    "Condition",
    "FieldKind",
    "FlowInvalid",
    "Leaf",
    "Not",
    "Op",
    "as_decimal",
    "check_condition",
    "envelope_schema",
    "evaluate",
    "field_kinds",
    "leaves",
    "lookup",
    "parse_condition",
]
