"""Reading back what the integration tests stored, and capturing an order the way the API
does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments.sandbox import SandboxGateway
from openoms.api.errors import PROBLEM_JSON
from openoms.schemas.orders import OrderCreate
from openoms.services.access import create_api_key
from openoms.services.orders import capture_order


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The problem+json body of `response`, after checking its status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


def create_keys(
    db: Database, scopes: dict[str, list[str]]
) -> tuple[dict[str, str], dict[str, str]]:
    """One API key per name in `scopes` (name → its scopes): (name → secret, name → id)."""
    secrets, ids = {}, {}
    with db.transaction() as session:
        for who, its_scopes in scopes.items():
            api_key, secrets[who] = create_api_key(session, name=who, scopes=its_scopes)
            ids[who] = api_key.id
    return secrets, ids


# What a capture writes: a refused capture leaves every one of them alone.
ORDER_TABLES = [
    m.Order,
    m.OrderItem,
    m.OrderSummary,
    m.OrderDeliveryGroupSummary,
    m.OrderItemSummary,
    m.OrderPaymentSummary,
    m.PaymentAuthorization,
    m.Event,
    m.EventDelivery,
    m.IdempotencyRecord,
    m.Job,
    m.Reservation,
    m.ReservationLine,
]


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


Ledger = dict[str, set[tuple[str, str, int]]]


def openoms_ledger(db: Database) -> Ledger:
    """openoms' side of the money: "capture" and "refund" → (idempotency key, gateway
    reference, minor units) of every PROCESSED payment and refund."""
    with db.reading() as session:
        return {
            operation: {
                (row.idempotency_key, row.gateway_reference or "", row.amount)
                for row in session.scalars(select(model).where(model.status == "PROCESSED"))
            }
            for operation, model in (("capture", m.Payment), ("refund", m.Refund))
        }


def gateway_ledger(db: Database, gateway: str = "sandbox") -> Ledger:
    """The sandbox gateway's side, read from its own tables, in the same shape."""
    sandbox = SandboxGateway(db, gateway)
    return {
        operation: {
            (e.idempotency_key, e.reference, e.amount) for e in sandbox.movements(operation)
        }
        for operation in ("capture", "refund")
    }
