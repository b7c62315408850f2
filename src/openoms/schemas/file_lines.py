"""What the file importers (orders, inventory, locations) share at the edge: how a CSV
cell (text) becomes the JSON value a strict payload wants."""

from __future__ import annotations

import re
from typing import Any

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False}


def csv_integer(cell: str) -> int | str:
    """A whole number written in digits as an int; anything else stays text (the payload
    refuses it, naming the field)."""
    return int(cell) if _INTEGER.fullmatch(cell) else cell


def csv_number(cell: str) -> float | str:
    """A decimal number such as -1.55 as a float; anything else stays text."""
    return float(cell) if _NUMBER.fullmatch(cell) else cell


def csv_boolean(cell: str) -> bool | str:
    """true/false or yes/no (any case) as a bool; anything else stays text."""
    return _BOOLEANS.get(cell.lower(), cell)


def csv_typed(cell: str, kind: type[Any]) -> Any:
    """`cell` as the JSON value of a field of type `kind` (int, float or bool), when it
    reads as one."""
    convert = {int: csv_integer, float: csv_number, bool: csv_boolean}.get(kind)
    return cell if convert is None else convert(cell)
