"""Query and path parameters held to the payloads' rules: no control characters (checked
for every parameter of every route by `refuse_control_characters`), whole numbers written
as digits, date-times in ISO 8601 (a number is not a date)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator

from openoms.schemas.common import control_character

_DIGITS = re.compile(r"[0-9]{1,9}")


def _whole_number(value: Any) -> Any:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a whole number written in digits, such as 50")
    return value


WHOLE_NUMBER = BeforeValidator(_whole_number)
"""Metadata for an int query parameter: digits only (not "3.0", "+3" or " 3")."""


async def refuse_control_characters(request: Request) -> None:
    """An app-wide dependency: a path or query parameter holding a control character (tab
    and line breaks included) is 422 `payload_invalid` naming the parameter. Async because
    it does no I/O: a sync dependency would cost every request a hop to the thread pool."""
    parameters = [("path", name, value) for name, value in request.path_params.items()]
    parameters += [("query", name, value) for name, value in request.query_params.multi_items()]
    errors = [
        {
            "type": "value_error",
            "loc": (where, name),
            "msg": f"must not contain control characters (found {found})",
            "input": value,
        }
        for where, name, value in parameters
        if isinstance(value, str) and (found := control_character(value))
    ]
    if errors:
        raise RequestValidationError(errors)
