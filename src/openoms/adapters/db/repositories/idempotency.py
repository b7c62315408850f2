"""Housekeeping of stored idempotent answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete
from sqlalchemy.orm import Session

from openoms.adapters.db.models import IdempotencyRecord

RETENTION = timedelta(hours=24)


def purge_idempotency_records(session: Session, older_than: datetime) -> int:
    """Delete records created before `older_than` (e.g. `now - RETENTION`); returns how many."""
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < older_than)
    )
    return cast(CursorResult[Any], result).rowcount
