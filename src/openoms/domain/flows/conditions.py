"""A flow's condition (docs/flows.md): `all` / `any` / `not` over `{field, op, value}`
leaves, read from its JSON document and evaluated against the event as delivered
(`{"id", "type", "version", "occurred_at", "data"}`).

Pure: no I/O. Amounts compare exactly, as decimals (never floats): a leaf's field kinds,
found in the trigger's schema when the flow was stored (`fields.py`), say which fields are
amounts, so `"150.00"` equals `"150.0"` on an amount field and not on a plain string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from openoms.domain.errors import ValidationFailed

AMOUNT_PATTERN = r"^-?\d+(\.\d+)?$"
_AMOUNT = re.compile(AMOUNT_PATTERN)
_MISSING = object()


class FlowInvalid(ValidationFailed):
    """A flow that cannot be stored: `field` names the path in the flow document
    (`when.all[1].field`, `actions[0].reason`)."""

    code = "flow_invalid"
    title = "Flow is not valid"


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    EXISTS = "exists"


class FieldKind(StrEnum):
    """What a field holds, as the trigger's JSON Schema declares it."""

    STRING = "string"
    AMOUNT = "amount"  # a decimal string ("20.55"): compared as a decimal
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ARRAY = "array"
    OBJECT = "object"
    NULL = "null"
    ANY = "any"  # the schema does not say


DECIMAL_KINDS = frozenset({FieldKind.AMOUNT, FieldKind.INTEGER, FieldKind.NUMBER})


@dataclass(frozen=True, slots=True)
class Leaf:
    field: str
    op: Op
    value: Any = None
    path: str = "when"  # where the leaf sits in the flow document


@dataclass(frozen=True, slots=True)
class All:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition


Condition = Leaf | All | AnyOf | Not


def parse_condition(document: Any, path: str = "when") -> Condition | None:
    """The condition of a flow document's `when` (None: the flow always matches). Refuses
    (FlowInvalid naming the path) anything but one of `all`, `any`, `not` or a leaf."""
    if document is None:
        return None
    return _parse(document, path)


def _parse(document: Any, path: str) -> Condition:
    if not isinstance(document, Mapping):
        raise FlowInvalid(
            "a condition is an object: all, any, not or {field, op, value}", field=path
        )
    keys = set(document)
    if keys & {"all", "any", "not"}:
        if len(keys) != 1:
            raise FlowInvalid(
                f"a group condition has exactly one key (all, any or not), not {sorted(keys)}",
                field=path,
            )
        (key,) = keys
        if key == "not":
            return Not(_parse(document["not"], f"{path}.not"))
        return _group(key, document[key], f"{path}.{key}")
    unknown = keys - {"field", "op", "value"}
    if unknown:
        raise FlowInvalid(f"unknown key {sorted(unknown)[0]!r} in a condition", field=path)
    return _leaf(document, path)


def _group(key: str, items: Any, path: str) -> Condition:
    if not isinstance(items, list) or not items:
        raise FlowInvalid(f"`{key}` takes a non-empty list of conditions", field=path)
    parsed = tuple(_parse(item, f"{path}[{i}]") for i, item in enumerate(items))
    return All(parsed) if key == "all" else AnyOf(parsed)


def _leaf(document: Mapping[str, Any], path: str) -> Leaf:
    field = document.get("field")
    if not isinstance(field, str) or not field:
        raise FlowInvalid("a condition needs a `field`: a dotted path", field=f"{path}.field")
    op = document.get("op")
    if not isinstance(op, str) or op not in Op.__members__.values():
        known = ", ".join(o.value for o in Op)
        raise FlowInvalid(f"unknown op {op!r}; one of {known}", field=f"{path}.op")
    if "value" not in document and op != Op.EXISTS:
        raise FlowInvalid(f"op {op} needs a `value`", field=f"{path}.value")
    return Leaf(field, Op(op), document.get("value"), path)


def leaves(condition: Condition | None) -> list[Leaf]:
    """Every leaf of the condition, in document order."""
    if condition is None:
        return []
    if isinstance(condition, Leaf):
        return [condition]
    if isinstance(condition, Not):
        return leaves(condition.item)
    return [leaf for item in condition.items for leaf in leaves(item)]


def lookup(document: Any, path: str) -> Any:
    """The value at a dotted path (`data.totals.grand_total`; a list is indexed by a number,
    `data.lines.0.sku`), or `_MISSING`."""
    value = document
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def evaluate(
    condition: Condition | None, event: Mapping[str, Any], kinds: Mapping[str, str]
) -> bool:
    """Whether the event matches. `kinds` maps a leaf's field to its kind (`FieldKind`
    values); decimal kinds compare as decimals. A leaf on a field the event lacks is false
    (only `exists` with value false is true then)."""
    if condition is None:
        return True
    if isinstance(condition, All):
        return all(evaluate(c, event, kinds) for c in condition.items)
    if isinstance(condition, AnyOf):
        return any(evaluate(c, event, kinds) for c in condition.items)
    if isinstance(condition, Not):
        return not evaluate(condition.item, event, kinds)
    return _leaf_matches(condition, lookup(event, condition.field), kinds.get(condition.field))


def _leaf_matches(leaf: Leaf, found: Any, kind: str | None) -> bool:
    if leaf.op is Op.EXISTS:
        present = found is not _MISSING and found is not None
        return present == (leaf.value is None or bool(leaf.value))
    if found is _MISSING:
        return False
    decimal = kind in DECIMAL_KINDS
    if leaf.op is Op.EQ:
        return _equal(found, leaf.value, decimal)
    if leaf.op is Op.NE:
        return not _equal(found, leaf.value, decimal)
    if leaf.op in (Op.IN, Op.NOT_IN):
        inside = any(_equal(found, v, decimal) for v in _listed(leaf.value))
        return inside == (leaf.op is Op.IN)
    if leaf.op is Op.CONTAINS:
        if isinstance(found, str) and isinstance(leaf.value, str):
            return leaf.value in found
        return isinstance(found, list) and any(_equal(i, leaf.value, decimal) for i in found)
    return _ordered(leaf.op, as_decimal(found), as_decimal(leaf.value))


def _listed(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else ()


def _equal(found: Any, wanted: Any, decimal: bool) -> bool:
    if decimal:
        left, right = as_decimal(found), as_decimal(wanted)
        if left is not None and right is not None:
            return left == right
    if isinstance(found, bool) != isinstance(wanted, bool):
        return False  # JSON true is not 1
    return bool(found == wanted)


def _ordered(op: Op, left: Decimal | None, right: Decimal | None) -> bool:
    if left is None or right is None:
        return False
    if op is Op.GT:
        return left > right
    if op is Op.GE:
        return left >= right
    if op is Op.LT:
        return left < right
    return left <= right


def as_decimal(value: Any) -> Decimal | None:
    """An exact decimal of an integer, a float's shortest text, or a decimal string; None for
    anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str) and _AMOUNT.match(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            return None
    return None
