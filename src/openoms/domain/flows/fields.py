"""Checking a flow's condition against its trigger's JSON Schema (the event catalog's
payload schema inside the delivered envelope): every leaf's field must exist, its op must
fit the field's kind, and its value must fit too. Pure: the schema comes in as a dict.

What fits (docs/flows.md):
- `eq`, `ne`, `in`, `not_in`: scalar fields (strings, amounts, numbers, booleans); `in` and
  `not_in` take a non-empty list.
- `gt`, `ge`, `lt`, `le`: amounts (decimal strings), integers and numbers; never a plain
  string.
- `contains`: arrays (an item's value) and strings (a substring).
- `exists`: any field; its value, when given, is true or false.
Amount values are decimal strings or integers, never floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from openoms.domain.flows.conditions import (
    AMOUNT_PATTERN,
    DECIMAL_KINDS,
    Condition,
    FieldKind,
    FlowInvalid,
    Leaf,
    Op,
    as_decimal,
    leaves,
)

Schema = Mapping[str, Any]
K = FieldKind
_SCALARS = frozenset({K.STRING, K.AMOUNT, K.INTEGER, K.NUMBER, K.BOOLEAN, K.NULL, K.ANY})
_FITS: dict[Op, frozenset[FieldKind]] = {
    Op.EQ: _SCALARS,
    Op.NE: _SCALARS,
    Op.IN: _SCALARS,
    Op.NOT_IN: _SCALARS,
    Op.GT: DECIMAL_KINDS | {K.ANY},
    Op.GE: DECIMAL_KINDS | {K.ANY},
    Op.LT: DECIMAL_KINDS | {K.ANY},
    Op.LE: DECIMAL_KINDS | {K.ANY},
    Op.CONTAINS: frozenset({K.ARRAY, K.STRING, K.ANY}),
    Op.EXISTS: frozenset(K),
}


def envelope_schema(payload_schema: Schema) -> dict[str, Any]:
    """The schema of an event as delivered: `{"id", "type", "version", "occurred_at",
    "data"}` with `data` the catalog's payload schema (its `$defs` kept at the root, where
    its `$ref`s point)."""
    data = {k: v for k, v in payload_schema.items() if k != "$defs"}
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "version": {"type": "integer"},
            "occurred_at": {"type": "string"},
            "data": data,
        },
        "$defs": dict(payload_schema.get("$defs", {})),
    }


def check_condition(condition: Condition | None, schema: Schema) -> dict[str, str]:
    """Check every leaf against the envelope `schema`; returns each leaf field's kind (the
    kinds `evaluate` compares by). FlowInvalid names the first leaf path at fault."""
    kinds: dict[str, str] = {}
    for leaf in leaves(condition):
        found = field_kinds(schema, leaf.field)
        if not found:
            raise FlowInvalid(
                f"no field {leaf.field!r} in the trigger's event", field=f"{leaf.path}.field"
            )
        _check_leaf(leaf, found, schema)
        kinds[leaf.field] = _main_kind(found).value
    return kinds


def field_kinds(schema: Schema, path: str) -> frozenset[FieldKind]:
    """The kinds the field at the dotted `path` may hold (empty: no such field)."""
    nodes = [schema]
    for part in path.split("."):
        nodes = [child for node in nodes for child in _children(schema, node, part)]
        if not nodes:
            return frozenset()
    return frozenset(kind for node in nodes for kind in _kinds(schema, node))


def item_kinds(schema: Schema, path: str) -> frozenset[FieldKind]:
    """The kinds of the items of the array at `path`."""
    nodes = [schema]
    for part in path.split("."):
        nodes = [child for node in nodes for child in _children(schema, node, part)]
    items = [i for node in nodes for b in _branches(schema, node) if (i := b.get("items"))]
    return frozenset(kind for node in items for kind in _kinds(schema, node))


def _branches(root: Schema, node: Schema) -> list[Schema]:
    """The node with `$ref`, `anyOf`, `oneOf` and `allOf` opened up."""
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        target = root.get("$defs", {}).get(name)
        return _branches(root, target) if isinstance(target, Mapping) else []
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            return [b for sub in node[key] for b in _branches(root, sub)]
    return [node]


def _children(root: Schema, node: Schema, part: str) -> Iterable[Schema]:
    for branch in _branches(root, node):
        properties = branch.get("properties", {})
        if part in properties:
            yield properties[part]
        elif isinstance(branch.get("additionalProperties"), Mapping):
            yield branch["additionalProperties"]
        elif branch.get("type") == "array" and part.isdigit() and "items" in branch:
            yield branch["items"]


def _kinds(root: Schema, node: Schema) -> Iterable[FieldKind]:
    for branch in _branches(root, node):
        kind = branch.get("type")
        if kind == "string":
            yield K.AMOUNT if branch.get("pattern") == AMOUNT_PATTERN else K.STRING
        elif kind in {"integer", "number", "boolean", "array", "object", "null"}:
            yield K(kind)
        elif "enum" in branch or "const" in branch:
            yield K.STRING
        else:
            yield K.ANY


def _main_kind(kinds: frozenset[FieldKind]) -> FieldKind:
    """The kind a leaf compares by: the field's non-null kind (ANY when it has several)."""
    real = kinds - {K.NULL}
    return next(iter(real)) if len(real) == 1 else (K.NULL if not real else K.ANY)


def _check_leaf(leaf: Leaf, kinds: frozenset[FieldKind], schema: Schema) -> None:
    if not kinds & _FITS[leaf.op]:
        shown = " or ".join(sorted(k.value for k in kinds))
        raise FlowInvalid(
            f"op {leaf.op} does not fit {leaf.field!r}, which is a {shown}", field=f"{leaf.path}.op"
        )
    where = f"{leaf.path}.value"
    if leaf.op is Op.EXISTS:
        if leaf.value is not None and not isinstance(leaf.value, bool):
            raise FlowInvalid("`exists` takes true or false", field=where)
        return
    if leaf.op in (Op.IN, Op.NOT_IN):
        if not isinstance(leaf.value, list) or not leaf.value:
            raise FlowInvalid(f"op {leaf.op} takes a non-empty list", field=where)
        for i, value in enumerate(leaf.value):
            _check_value(value, kinds, f"{where}[{i}]")
        return
    if leaf.op is Op.CONTAINS:
        wanted = item_kinds(schema, leaf.field) if K.ARRAY in kinds else frozenset({K.STRING})
        _check_value(leaf.value, wanted or frozenset({K.ANY}), where)
        return
    if leaf.op in (Op.EQ, Op.NE):
        _check_value(leaf.value, kinds, where)
        return
    _check_value(leaf.value, kinds & (DECIMAL_KINDS | {K.ANY}), where)


def _check_value(value: Any, kinds: frozenset[FieldKind], where: str) -> None:
    if not any(_fits(value, kind) for kind in kinds):
        shown = " or ".join(sorted(k.value for k in kinds))
        hint = ' (amounts are decimal strings such as "100.00")' if K.AMOUNT in kinds else ""
        raise FlowInvalid(f"value {value!r} does not fit the field ({shown}){hint}", field=where)


def _fits(value: Any, kind: FieldKind) -> bool:
    if kind is K.ANY:
        return True
    if kind is K.NULL:
        return value is None
    if kind is K.BOOLEAN:
        return isinstance(value, bool)
    if kind is K.STRING:
        return isinstance(value, str)
    if kind is K.AMOUNT:
        # A decimal string or an integer: a float is not exact.
        return not isinstance(value, float) and as_decimal(value) is not None
    if kind is K.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is K.NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False  # arrays and objects are never a condition's value
