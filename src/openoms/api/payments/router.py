"""Payments on an order summary (DESIGN.md §7, §12): ensure funds, and an agent's capture
and refund.

All call the gateway with no transaction open, and all require an `Idempotency-Key` (400
`idempotency_key_required` without one, nothing moved). `ensure-funds` captures only what
invoices still owe (and resends a pending capture with its own key); its answer is stored
under the request's key, so a retry replays what the first call did. `capture` and `refund`
record the pending movement under the request's key first, then call the gateway; a retry
with the same key resends that same movement (never a second one) and answers with its
outcome.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.outbox import Outbox
from openoms.api.auth import require_scope
from openoms.api.deps import gateways_of, get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import (
    REPLAYED_HEADER,
    RequiredIdempotencyKey,
    respond,
    run_claimed,
    run_idempotent,
)
from openoms.domain.money import Money, format_minor
from openoms.domain.payments import PaymentStatus
from openoms.schemas.common import Identifier, Payload
from openoms.schemas.finance import RefundOut as RefundView
from openoms.services import payments as payment_actions
from openoms.services import payments as service
from openoms.services.access import Principal, Scope
from openoms.services.orders import locked_summary
from openoms.services.payments import balance_of, refund_views

router = APIRouter(prefix="/api/v1", tags=["payments"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "Bad amount (`amount_invalid`) or currency (`currency_mismatch`).",
        401: "No valid API key.",
        402: "The gateway refused for good (`payment_declined`, `refund_declined`); nothing moved.",
        403: "The API key lacks the agent scope.",
        404: "Unknown order summary or payment summary.",
        409: "More than available to capture (`capture_exceeds_authorized`) or to refund "
        "(`refund_exceeds_captured`).",
        422: "The payload does not match the schema.",
    }.items()
}

Agent = Annotated[Principal, Depends(require_scope(Scope.AGENT, Scope.ADMIN))]


class InvoiceFundsOut(BaseModel):
    invoice_id: str
    status: str = Field(description="POSTED while a balance is left, PAID at zero.")
    grand_total: str
    applied_from_excess: str = Field(description="Already-captured funds applied in this run.")
    captured: str = Field(description="Captured from authorizations in this run.")
    balance: str


class EnsureFundsOut(BaseModel):
    order_summary_id: str
    invoices: list[InvoiceFundsOut]
    retry_scheduled: bool = Field(description="A soft decline or unknown answer: retried later.")
    detail: str


class CaptureIn(Payload):
    amount: Identifier = Field(
        max_length=40, description='Decimal string, e.g. "12.34".', examples=["12.34"]
    )
    currency: Identifier | None = Field(
        default=None, max_length=3, description="Defaults to the order's currency."
    )


class RefundIn(Payload):
    amount: Identifier = Field(
        max_length=40, description='Decimal string, e.g. "12.34".', examples=["12.34"]
    )
    currency: Identifier | None = Field(
        default=None, max_length=3, description="Defaults to the order's currency."
    )
    reason: str | None = Field(
        default=None, max_length=500, description="Why (goodwill, price match…); on the event."
    )


class RefundOut(BaseModel):
    payment_summary_id: str
    refunds: list[RefundView]
    refunded: str
    available_to_refund: str


class CaptureOut(BaseModel):
    payment_summary_id: str
    payments: list[dict[str, Any]]
    captured: str
    available_to_capture: str


@router.post(
    "/order-summaries/{summary_id}/actions/ensure-funds",
    response_model=EnsureFundsOut,
    responses=PROBLEMS,
)
def ensure_funds(
    summary_id: str,
    request: Request,
    response: Response,
    principal: Agent,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Capture what the summary's POSTED invoices still owe: excess captured funds first,
    then authorizations (exact amount first, else largest). Also retries invoices whose
    payment exception waits for a person. Answers what each invoice got in this run (a
    retry with the same key replays that answer)."""
    db = get_db(request)

    def act() -> tuple[int, dict[str, Any]]:
        return 200, _ensure_funds(request, summary_id)

    result = run_claimed(db, principal, idempotency_key, request, {}, act)
    return respond(response, result)


def _ensure_funds(request: Request, summary_id: str) -> dict[str, Any]:
    result = service.ensure_funds(
        get_db(request), _outbox(request), gateways_of(request.app), summary_id, retry_blocked=True
    )
    return {
        "order_summary_id": result.order_summary_id,
        "invoices": [
            {
                "invoice_id": f.invoice_id,
                "status": f.status,
                "grand_total": format_minor(f.grand_total, f.currency),
                "applied_from_excess": format_minor(f.from_excess, f.currency),
                "captured": format_minor(f.captured, f.currency),
                "balance": format_minor(f.balance, f.currency),
            }
            for f in result.invoices
        ],
        "retry_scheduled": result.retry,
        "detail": result.detail,
    }


@router.post(
    "/order-summaries/{summary_id}/payment-summaries/{ps_id}/actions/capture",
    response_model=CaptureOut,
    status_code=201,
    responses={202: {"description": "The gateway's answer is unknown; retried."}, **PROBLEMS},
)
def capture(
    summary_id: str,
    ps_id: str,
    payload: CaptureIn,
    request: Request,
    response: Response,
    principal: Agent,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Capture `amount` on one payment method now, outside any invoice (later invoices use
    it first). 201 captured; 202 answer unknown (retried with the same key); 402 declined.
    More than available to capture is 409 `capture_exceeds_authorized`, nothing moved."""
    db = get_db(request)

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        currency = locked_summary(session, summary_id).currency
        amount = Money.parse(payload.amount, payload.currency or currency, field="amount")
        ids = payment_actions.prepare_capture(session, summary_id, ps_id, amount)
        return 202, {"payment_ids": ids}

    body = payload.model_dump(mode="json")
    result = run_idempotent(db, principal, idempotency_key, request, body, operation, required=True)
    ids: list[str] = result.body["payment_ids"]
    payment_actions.send_pending(db, _outbox(request), gateways_of(request.app), summary_id, ids)
    with db.reading() as session:
        rows = payment_actions.payments_of(session, ids)
        ps = session.get(m.OrderPaymentSummary, ps_id)
        currency = session.get(m.OrderSummary, summary_id).currency  # type: ignore[union-attr]
    assert ps is not None
    statuses = {p.status for p in rows}
    if PaymentStatus.FAILED in statuses:
        raise payment_actions.PaymentDeclined(
            f"the gateway refused the capture on payment summary {ps_id}; nothing was captured",
            payment_ids=ids,
        )
    response.status_code = 202 if PaymentStatus.PENDING in statuses else 201
    return {
        "payment_summary_id": ps.id,
        "payments": [
            {
                "id": p.id,
                "amount": format_minor(p.amount, currency),
                "status": p.status,
                "gateway_reference": p.gateway_reference,
            }
            for p in rows
        ],
        "captured": format_minor(ps.captured, currency),
        "available_to_capture": format_minor(balance_of(ps).available_to_capture, currency),
    }


@router.post(
    "/order-summaries/{summary_id}/payment-summaries/{ps_id}/actions/refund",
    response_model=RefundOut,
    status_code=201,
    responses={
        202: {"description": "Soft-declined or the answer is unknown; the worker retries."},
        **PROBLEMS,
    },
)
def refund(
    summary_id: str,
    ps_id: str,
    payload: RefundIn,
    request: Request,
    response: Response,
    principal: Agent,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Give `amount` back on one payment method now, with no credit memo (goodwill, price
    match): planned over its captures (exact match, else the smallest covering, else several,
    largest first). 201 refunded; 202 pending (soft decline or unknown answer: the worker
    resends it with the same key); 402 refused for good. More than available to refund
    (captured + pending capture − refunded − pending refund) is 409
    `refund_exceeds_captured`, nothing moved. Reconciliation shows it as refunded without a
    credit memo."""
    db = get_db(request)

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        currency = locked_summary(session, summary_id).currency
        amount = Money.parse(payload.amount, payload.currency or currency, field="amount")
        ids = payment_actions.prepare_refund(
            session,
            _outbox(request),
            summary_id,
            ps_id,
            amount,
            payload.reason,
            requested_by=principal.actor,
        )
        return 202, {"refund_ids": ids}

    body = payload.model_dump(mode="json")
    result = run_idempotent(db, principal, idempotency_key, request, body, operation, required=True)
    ids: list[str] = result.body["refund_ids"]
    payment_actions.send_pending_refunds(
        db, _outbox(request), gateways_of(request.app), summary_id, ids
    )
    with db.reading() as session:
        views = refund_views(session, ids)
        ps = session.get(m.OrderPaymentSummary, ps_id)
        currency = session.get(m.OrderSummary, summary_id).currency  # type: ignore[union-attr]
    assert ps is not None
    statuses = {v["status"] for v in views}
    if PaymentStatus.FAILED in statuses:
        done = [v["amount"] for v in views if v["status"] != PaymentStatus.FAILED]
        moved = f"{' + '.join(done)} was refunded" if done else "nothing was refunded"
        raise payment_actions.RefundDeclined(
            f"the gateway refused the refund on payment summary {ps_id}; {moved}",
            refund_ids=ids,
        )
    response.status_code = 202 if PaymentStatus.PENDING in statuses else 201
    if result.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return {
        "payment_summary_id": ps.id,
        "refunds": views,
        "refunded": format_minor(ps.refunded, currency),
        "available_to_refund": format_minor(balance_of(ps).available_to_refund, currency),
    }


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox
