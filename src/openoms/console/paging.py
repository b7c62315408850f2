"""Cursor pagination for list pages: the cursor is the last row's id, base64url."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime, time, timedelta

PAGE_SIZE = 50


class SearchInvalid(ValueError):
    """A search field the page cannot use; the message names it."""


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, prefix: str) -> str | None:
    if not cursor:
        return None
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise SearchInvalid("The page link is broken; start the search again.") from None
    if not value.startswith(prefix):
        raise SearchInvalid("The page link is broken; start the search again.")
    return value


def day_start(value: str, label: str, *, after: bool = False) -> datetime | None:
    """Midnight UTC of the day `value` (YYYY-MM-DD), or of the day after it when `after`
    (an inclusive "to" date becomes an exclusive bound)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise SearchInvalid(f"{label} must be a date like 2026-11-20, not {value!r}.") from None
    if after:
        day += timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=UTC)
