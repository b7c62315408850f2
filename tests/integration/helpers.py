"""Reading back what the integration tests stored, and capturing an order the way the API
does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.schemas.orders import OrderCreate
from openoms.services.capture import capture_order


def count(db: Database, model: type[m.Base], *where: Any) -> int:
    """Rows of `model` (matching `where`)."""
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def row_counts(db: Database, models: Iterable[type[m.Base]]) -> dict[str, int]:
    """Table name → rows, for each of `models`."""
    with db.reading() as session:
        return {
            t.__tablename__: session.scalar(select(func.count()).select_from(t)) or 0
            for t in models
        }


def bookkeeping(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """The jobs queued (kind, key, status, attempts, when due) and the idempotency records
    kept (API key, key, method, path, status): a refused request adds to neither, and
    changes no job, so that nothing runs later for it and a fixed retry runs afresh."""
    with db.reading() as session:
        jobs = session.execute(
            select(
                m.Job.kind, m.Job.dedupe_key, m.Job.status, m.Job.attempts, m.Job.available_at
            ).order_by(m.Job.id)
        ).all()
        records = session.execute(
            select(
                m.IdempotencyRecord.api_key_id,
                m.IdempotencyRecord.key,
                m.IdempotencyRecord.method,
                m.IdempotencyRecord.path,
                m.IdempotencyRecord.status_code,
            ).order_by(m.IdempotencyRecord.id)
        ).all()
    return {"jobs": [tuple(j) for j in jobs], "idempotency_records": [tuple(r) for r in records]}


def stock(db: Database) -> dict[tuple[str, str], tuple[int, int]]:
    """(location ref, sku) → (on_hand, reserved)."""
    with db.reading() as session:
        rows = session.execute(
            select(
                m.Location.ref,
                m.InventoryRecord.sku,
                m.InventoryRecord.on_hand,
                m.InventoryRecord.reserved,
            ).join(m.Location, m.Location.id == m.InventoryRecord.location_id)
        ).all()
    return {(ref, sku): (on_hand, reserved) for ref, sku, on_hand, reserved in rows}


def stock_by_id(db: Database) -> dict[tuple[str, str], tuple[int, int]]:
    """(location id, sku) → (on_hand, reserved)."""
    with db.reading() as session:
        rows = session.execute(
            select(
                m.InventoryRecord.location_id,
                m.InventoryRecord.sku,
                m.InventoryRecord.on_hand,
                m.InventoryRecord.reserved,
            )
        ).all()
    return {(loc, sku): (on_hand, reserved) for loc, sku, on_hand, reserved in rows}


def capture(db: Database, outbox: Outbox, payload: dict[str, Any]) -> str:
    """Capture `payload` as POST /api/v1/orders does (validated, one transaction); returns
    the order summary id."""
    draft = OrderCreate.model_validate(payload).to_draft()
    with db.transaction() as session:
        return capture_order(session, outbox, draft).order_summary_id
