"""What every payload shares: strict JSON types, no control characters, nothing trimmed,
bounded quantities and amounts, ISO 8601 dates.

`Payload` is the base of every request model (API bodies and import lines):
- unknown fields are refused;
- integers are JSON integers (not `true`, `"3"` or `3.0`), booleans JSON booleans, numbers
  JSON numbers (strict mode); enumerations are matched by value (`Annotated[E, LAX]`);
- no string holds a C0 or C1 control character (NUL, escape, DEL …): PostgreSQL cannot
  store NUL, and neither backend should store what a person cannot see. Tab, line feed and
  carriage return are allowed in free text (reasons, notes) only: `Identifier` and `Text`
  refuse them;
- nothing is trimmed: an identifier or amount with surrounding spaces is refused rather
  than silently changed.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    field_validator,
)

from openoms.domain.quantities import MAX_LINE_QUANTITY

# C0 controls but tab, line feed and carriage return; DEL; C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_CONTROL = re.compile("[\t\n\r]")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?"
)

AMOUNT_PATTERN = r"^-?\d{1,15}(\.\d{1,6})?$"
UNSIGNED_AMOUNT_PATTERN = r"^\d{1,15}(\.\d{1,6})?$"

LAX = Strict(False)
"""For an enumeration field of a `Payload`: matched by its value (strict mode would want an
instance of the Python enum, which JSON cannot send)."""


def control_character(value: str, *, line_breaks: bool = False) -> str | None:
    """The first control character in `value` (tab, line feed and carriage return count
    unless `line_breaks` allows them), as U+XXXX; None when there is none."""
    found = _CONTROL.search(value) or (None if line_breaks else _LINE_CONTROL.search(value))
    return f"U+{ord(found.group()):04X}" if found else None


def _no_controls(value: Any) -> Any:
    """Refuse control characters in a string or a list of strings (tab, line feed and
    carriage return aside: `Identifier` and `Text` refuse those). Objects are models with
    this rule of their own, which name the field at fault; the payloads' only mappings
    (currency → amount) are held by patterns."""
    strings = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    for text in strings:
        found = isinstance(text, str) and control_character(text, line_breaks=True)
        if found:
            raise ValueError(f"must not contain control characters (found {found})")
    return value


def _single_line(value: str) -> str:
    found = control_character(value)
    if found:
        raise ValueError(f"must be one line without tabs (found {found})")
    if value and not value.strip():
        raise ValueError("must not be blank")
    return value


def _identifier(value: str) -> str:
    _single_line(value)
    if value != value.strip():
        raise ValueError("must not start or end with spaces")
    return value


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATETIME.fullmatch(value):
        raise ValueError('must be a valid ISO 8601 date-time such as "2026-11-20T10:00:00Z"')
    return value


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError('must be a valid date, written YYYY-MM-DD such as "2026-12-01"')
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
"""A reference, SKU, id, code, email or token: one line, no surrounding spaces."""

Text = Annotated[str, AfterValidator(_single_line)]
"""A name or address line: one line, not blank, kept as sent."""

Quantity = Annotated[int, Field(le=MAX_LINE_QUANTITY)]
"""Units on one line (at most 1,000,000); whether it may be zero or negative is the
business rules' to say."""

StockQuantity = Annotated[int, Field(ge=0, le=MAX_LINE_QUANTITY)]
"""Units held at a location: 0 to 1,000,000."""

IsoDateTime = Annotated[datetime, LAX, BeforeValidator(_iso_datetime)]
"""An ISO 8601 date-time string (a number is not a date)."""

IsoDate = Annotated[date, LAX, BeforeValidator(_iso_date)]
"""An ISO 8601 date string, YYYY-MM-DD."""


class Payload(BaseModel):
    """The base of every request model (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        return _no_controls(value)
