"""What every file import (orders, inventory, locations) shares: how a refused line is
reported, and how a CSV cell (text) becomes the JSON value a strict payload wants."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False}


@dataclass(frozen=True, slots=True)
class LineError:
    """A refused line of an imported file: where, which field, why, and the stable code
    when a domain rule refused it. Printed as `line 6, field items[0].quantity: … (code)`."""

    line: int
    field: str | None
    message: str
    code: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", field {self.field}" if self.field else "")
        return f"{where}: {self.message}" + (f" ({self.code})" if self.code else "")


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
