"""Opaque page cursors: the id of the last row of a page, base64url without padding."""

from __future__ import annotations

import base64

from openoms.domain.errors import ValidationFailed


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, prefix: str = "") -> str | None:
    """The id in `cursor` (None for none); 400 `validation_failed` unless it decodes to an
    id starting with `prefix`."""
    if not cursor:
        return None
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("cursor is not one this API issued", field="cursor") from None
    if not value.startswith(prefix):
        raise ValidationFailed("cursor is not one this API issued", field="cursor")
    return value
