"""Sending and settling captures (DESIGN.md §7), whoever prepared them: ensure funds for an
invoice (payments/funds.py), a capture on order (payments/order_captures.py) or an agent
(payments/actions.py).

Every money movement has the same three steps, like a carrier label (fulfillment/labels.py):
1. a short transaction records the intent — a PENDING Payment with a deterministic
   idempotency key, and the amount as `pending_capture` on the payment summary;
2. the gateway is called with no transaction open;
3. a short transaction settles the answer (and logs request and answer to
   PaymentGatewayLog — never the token), only if the row is still PENDING.

SUCCESS moves the amounts; DECLINE (soft) fails the Payment, gives the pending amount back,
opens a medium payment exception and asks for a retry with backoff (a new key: the decline
was the key's final answer); PERMANENT_FAIL does the same with a high exception and no
retry until a person acts; INDETERMINATE keeps the Payment PENDING: the next run sends the
SAME key, so a charge whose answer was lost is found, never made twice.

Keys: `capture:{invoice_id}:{authorization_id}:{n}` (`capture:manual:…` for an agent's
capture, services/payments/actions.py; `authorize:{authorization_id}:{n}` in
payments/authorizations.py), where n counts the earlier attempts: a refused attempt is final
for its key, so the next one takes a new key; an unknown answer keeps its key.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import enqueue
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.domain.events import DomainEvent
from openoms.domain.money import format_minor
from openoms.domain.payments import ORDER_CAPTURE_KEY_PREFIX, AuthorizationStatus, PaymentStatus
from openoms.domain.ports import GatewayRequest, GatewayResponse, GatewayResult
from openoms.services.exceptions import active_exception, resolve_exception, retry_action
from openoms.services.orders import locked_summary
from openoms.services.payments.gateway_calls import (
    GatewayCall,
    GatewayOperation,
    balance_of,
    log_answer,
    payment_event,
    record_exception,
    send_and_settle,
)

ENSURE_FUNDS_JOB = "ensure_funds"
R = GatewayResult


def is_order_capture(payment: m.Payment) -> bool:
    """A capture on order (not for an invoice, not an agent's)."""
    return payment.idempotency_key.startswith(ORDER_CAPTURE_KEY_PREFIX)


def order_capture_dedupe(order_summary_id: str) -> str:
    return f"payment:capture:order:{order_summary_id}"


def blocked_exception(session: Session, dedupe_key: str) -> bool:
    """A high exception under `dedupe_key` is open: a person acts before the gateway is
    asked again."""
    exception = active_exception(session, dedupe_key)
    return exception is not None and exception.severity == "high"


# --- recording captures --------------------------------------------------------------------


def available_by_authorization(
    session: Session, by_id: dict[str, m.OrderPaymentSummary], *, only: str | None = None
) -> dict[str, int]:
    """Authorization id → what may still be captured on it: its amount less what is captured
    or pending on it, and never more than its payment summary's available_to_capture.
    Authorizations without a gateway reference cannot be captured."""
    auths = [
        a
        for a in repo.authorizations(session, list(by_id), AuthorizationStatus.AUTHORIZED)
        if a.gateway_reference and only in (None, a.order_payment_summary_id)
    ]
    auths.sort(key=lambda a: by_id[a.order_payment_summary_id].position)
    used = repo.used_per_authorization(session, [a.id for a in auths])
    left = {ps_id: balance_of(ps).available_to_capture for ps_id, ps in by_id.items()}
    available = {}
    for auth in auths:
        amount = max(
            min(auth.amount - used.get(auth.id, 0), left[auth.order_payment_summary_id]), 0
        )
        left[auth.order_payment_summary_id] -= amount
        available[auth.id] = amount
    return available


def new_capture(
    session: Session,
    by_id: dict[str, m.OrderPaymentSummary],
    authorization_id: str,
    amount: int,
    invoice_id: str | None,
    *,
    key: str | None = None,
) -> m.Payment:
    """A PENDING capture with its deterministic key (`key`, else the invoice's or manual
    one); the amount is pending on the summary."""
    auth = session.get(m.PaymentAuthorization, authorization_id)
    assert auth is not None
    n = repo.count_payments(session, invoice_id=invoice_id, authorization_id=auth.id) + 1
    payment = m.Payment(
        id=new_id("pay"),
        order_payment_summary_id=auth.order_payment_summary_id,
        payment_authorization_id=auth.id,
        invoice_id=invoice_id,
        amount=amount,
        status=PaymentStatus.PENDING.value,
        idempotency_key=key or f"capture:{invoice_id or 'manual'}:{auth.id}:{n}",
    )
    session.add(payment)
    by_id[auth.order_payment_summary_id].pending_capture += amount
    session.flush()  # the next count sees it
    return payment


def capture_call(
    session: Session,
    summary: m.OrderSummary,
    by_id: dict[str, m.OrderPaymentSummary],
    payment: m.Payment,
) -> GatewayCall:
    """The gateway call that sends a PENDING capture, with its own key."""
    ps = by_id[payment.order_payment_summary_id]
    auth = session.get(m.PaymentAuthorization, payment.payment_authorization_id)
    reference = auth.gateway_reference if auth is not None else None
    request = GatewayRequest(
        payment.idempotency_key, ps.token, payment.amount, summary.currency, reference
    )
    return GatewayCall(payment.id, ps.id, ps.gateway, GatewayOperation.CAPTURE, request)


def mark_paid(
    session: Session, outbox: Outbox, summary: m.OrderSummary, invoice: m.Invoice
) -> None:
    """An invoice with nothing left to pay is PAID (`invoice.paid`), once."""
    if invoice.balance > 0 or invoice.status == repo.PAID:
        return
    invoice.status = repo.PAID
    payload = {"invoice_id": invoice.id, "order_summary_id": summary.id}
    outbox.record(
        session,
        [DomainEvent("invoice.paid", "invoice", invoice.id, payload, summary.id)],
    )


# --- the retry an exception offers --------------------------------------------------------


def ensure_funds_action_for(summary: m.OrderSummary, invoice: m.Invoice | None) -> dict[str, Any]:
    """The action that retries ensuring funds for `invoice` (None: the whole order, whose
    run captures on order first)."""
    return ensure_funds_action(
        {"order_summary_id": summary.id, "invoice_id": invoice.id if invoice is not None else None}
    )


def ensure_funds_action(payload: dict[str, Any]) -> dict[str, Any]:
    """An ensure-funds exception's action: run the job again, keyed by its invoice as
    `on_invoice_created` keys it (the whole order's run: a key of the exception's own). A
    run an agent asks for while a hard failure holds the invoice for a person may capture
    it, that run only (`retry_blocked`)."""
    invoice = payload.get("invoice_id")
    job = {"order_summary_id": str(payload["order_summary_id"]), "invoice_id": invoice}
    return retry_action(
        ENSURE_FUNDS_JOB,
        payload,
        key=f"{ENSURE_FUNDS_JOB}:{invoice}" if invoice else None,
        retry_payload=job,
        held_payload={**job, "retry_blocked": True},
    )


# --- sending and settling captures ---------------------------------------------------------


def send_captures(
    db: Database,
    outbox: Outbox,
    gateways: Gateways,
    order_summary_id: str,
    calls: list[GatewayCall],
) -> list[tuple[GatewayCall, GatewayResponse]]:
    """Send each prepared capture with no transaction open, then settle each in its own."""
    return send_and_settle(db, outbox, gateways, order_summary_id, calls, _settle_capture)


def _settle_capture(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    call: GatewayCall,
    response: GatewayResponse,
) -> None:
    summary = locked_summary(session, order_summary_id)
    payment = session.get(m.Payment, call.row_id, populate_existing=True)
    ps = session.get(m.OrderPaymentSummary, call.payment_summary_id, populate_existing=True)
    assert payment is not None
    assert ps is not None
    log_answer(session, call, response)
    if payment.status != PaymentStatus.PENDING:
        return  # settled by a concurrent run
    invoice = (
        session.get(m.Invoice, payment.invoice_id, populate_existing=True)
        if payment.invoice_id
        else None
    )
    owned = invoice is not None or is_order_capture(payment)  # a job retries it, an exception tells
    if response.result is R.SUCCESS:
        settle_captured(session, outbox, summary, ps, payment, invoice, response)
    elif response.result in (R.DECLINE, R.PERMANENT_FAIL):
        payment.status = PaymentStatus.FAILED.value
        ps.pending_capture -= payment.amount
        if owned:
            _capture_exception(session, outbox, summary, payment, invoice, response)
    elif owned:
        _capture_exception(session, outbox, summary, payment, invoice, response)
    if response.result is R.INDETERMINATE and invoice is None:
        # Outside any invoice: the caller may be an agent, not a job, so queue one to resend it.
        enqueue(
            session,
            ENSURE_FUNDS_JOB,
            f"ensure_funds:payment:{payment.id}",
            {"order_summary_id": summary.id, "invoice_id": None},
            available_at=m.utcnow() + timedelta(seconds=30),
        )
    session.flush()


def settle_captured(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    ps: m.OrderPaymentSummary,
    payment: m.Payment,
    invoice: m.Invoice | None,
    response: GatewayResponse,
) -> None:
    moved = response.amount
    ps.pending_capture -= payment.amount
    ps.captured += moved
    payment.amount = moved
    payment.status = PaymentStatus.PROCESSED.value
    payment.gateway_reference = response.reference
    if invoice is not None:
        invoice.balance = max(invoice.balance - moved, 0)
        mark_paid(session, outbox, summary, invoice)
    money = summary.currency
    event = payment_event(
        "payment.captured",
        summary,
        payment_id=payment.id,
        order_payment_summary_id=ps.id,
        invoice_id=payment.invoice_id,
        amount=format_minor(moved, money),
        currency=money,
        gateway_reference=response.reference,
    )
    outbox.record(session, [event])
    resolve_exception(session, outbox, _capture_dedupe(summary, payment), note="captured")


def _capture_dedupe(summary: m.OrderSummary, payment: m.Payment) -> str:
    """The payment exception a capture raises or resolves: its invoice's, the order's for a
    capture on order, its own for an agent's."""
    if payment.invoice_id is not None:
        return f"payment:capture:{payment.invoice_id}"
    if is_order_capture(payment):
        return order_capture_dedupe(summary.id)
    return f"payment:capture:{payment.id}"


def _capture_exception(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    payment: m.Payment,
    invoice: m.Invoice | None,
    response: GatewayResponse,
) -> None:
    amount = f"{format_minor(payment.amount, summary.currency)} {summary.currency}"
    hard = response.result is R.PERMANENT_FAIL
    then = {
        R.DECLINE: "declined; retrying later",
        R.PERMANENT_FAIL: "refused; resolve with the customer, then ensure funds again",
        R.INDETERMINATE: "answer unknown; retrying with the same key",
    }[response.result]
    what = f"invoice {invoice.id}" if invoice is not None else f"order {summary.id} (on order)"
    message = f"capture of {amount} for {what}: {response.message}; {then}"
    record_exception(
        session,
        outbox,
        summary,
        dedupe_key=_capture_dedupe(summary, payment),
        severity="high" if hard else "medium",
        message=message,
        action=ensure_funds_action_for(summary, invoice),
    )
