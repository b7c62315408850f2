"""Talking to payment gateways (DESIGN.md §7): authorizing, and ensuring funds for invoices.

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

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.jobs import enqueue
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.domain.events import DomainEvent
from openoms.domain.money import format_minor
from openoms.domain.order import Lifecycle
from openoms.domain.payments import (
    ORDER_CAPTURE_KEY_PREFIX,
    AuthorizationStatus,
    PaymentStatus,
    order_capture_key,
    plan_captures,
)
from openoms.domain.ports import GatewayRequest, GatewayResponse, GatewayResult
from openoms.services.exceptions import active_exception, resolve_exception, retry_action
from openoms.services.finance import apply_exchange_credit, settled_exchange_memos
from openoms.services.orders import CapturePolicy, channel_policy, locked_summary
from openoms.services.payments.authorizations import AUTHORIZE_JOB, authorize_payments
from openoms.services.payments.gateway_calls import (
    GatewayCall,
    GatewayOperation,
    balance_of,
    excess_captured,
    log_answer,
    log_gateway_call,
    order_funds,
    payment_event,
    record_exception,
    retry_detail,
    send_and_settle,
)
from openoms.services.payments.refunds import REFUND_JOB, refund_job_key

__all__ = [
    "AUTHORIZE_JOB",
    "ENSURE_FUNDS_JOB",
    "authorize_payments",
    "ensure_funds",
    "log_gateway_call",
]

ENSURE_FUNDS_JOB = "ensure_funds"
R = GatewayResult


# --- ensuring funds for invoices -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvoiceFunds:
    """One invoice after an ensure-funds run: what this run applied and captured for it."""

    invoice_id: str
    currency: str
    grand_total: int
    from_excess: int
    captured: int
    balance: int
    status: str


@dataclass(frozen=True, slots=True)
class EnsureFundsResult:
    order_summary_id: str
    invoices: tuple[InvoiceFunds, ...]
    retry: bool  # a soft decline or an unknown answer: run again after a backoff
    detail: str = ""
    order_captured: int = 0  # captured on order by this run ("on_order" channels)


@dataclass(slots=True)
class _Prepared:
    calls: list[GatewayCall]
    invoice_ids: list[str]
    from_excess: dict[str, int]
    invoice_of: dict[str, str | None]  # payment id → invoice id
    waited: set[str] = field(default_factory=set)  # invoices left alone: a capture was pending


def ensure_funds(
    db: Database,
    outbox: Outbox,
    gateways: Gateways,
    order_summary_id: str,
    *,
    invoice_id: str | None = None,
    retry_blocked: bool = False,
) -> EnsureFundsResult:
    """Cover every POSTED invoice with a balance (or just `invoice_id`): authorize what is
    pending, capture on order what an "on_order" channel's order still needs (see
    `_prepare_order_capture`), resend PENDING captures with their own keys, apply excess
    captured funds, then capture against authorizations as `plan_captures` says, one Payment
    per capture and never more than available to capture. An invoice (or an order capture)
    with an open high payment exception is left alone unless `retry_blocked` (an agent
    asked). Emits `payment.captured`, `invoice.excess_applied`, `invoice.paid`. Safe to run
    twice or concurrently."""
    authorized = authorize_payments(db, outbox, gateways, order_summary_id)

    def prepare_order() -> list[GatewayCall]:
        with db.transaction() as session:
            return _prepare_order_capture(session, order_summary_id, retry_blocked)

    on_order = send_captures(db, outbox, gateways, order_summary_id, retry_transient(prepare_order))
    # Money on its way for the whole order: the invoices wait for it, not capture beside it.
    hold = any(r.result is not GatewayResult.SUCCESS for _, r in on_order)

    def prepare() -> _Prepared:
        with db.transaction() as session:
            return _prepare_funds(
                session, outbox, order_summary_id, invoice_id, retry_blocked, hold=hold
            )

    prepared = retry_transient(prepare)
    results = send_captures(db, outbox, gateways, order_summary_id, prepared.calls)
    captured: dict[str | None, int] = {}
    for call, response in results:
        if response.result is GatewayResult.SUCCESS:
            owner = prepared.invoice_of[call.row_id]
            captured[owner] = captured.get(owner, 0) + response.amount
    with db.reading() as session:
        invoices = [session.get(m.Invoice, i) for i in prepared.invoice_ids]
    funds = tuple(
        InvoiceFunds(
            invoice_id=inv.id,
            currency=inv.currency,
            grand_total=inv.grand_total,
            from_excess=prepared.from_excess.get(inv.id, 0),
            captured=captured.get(inv.id, 0),
            balance=inv.balance,
            status=inv.status,
        )
        for inv in invoices
        if inv is not None
    )
    unsettled = retry_detail([*on_order, *results])
    owing = any(f.balance > 0 for f in funds)
    # An invoice left alone while a capture of it was pending may still owe once that one
    # settled (another part of it was declined): no other job runs for it, so run again.
    waited = [f.invoice_id for f in funds if f.balance > 0 and f.invoice_id in prepared.waited]
    return EnsureFundsResult(
        order_summary_id,
        funds,
        bool(unsettled) or (authorized.retry and owing) or bool(waited),
        unsettled
        or authorized.detail
        or "; ".join(f"invoice {i} still owes after its pending capture settled" for i in waited),
        order_captured=sum(r.amount for _, r in on_order if r.result is GatewayResult.SUCCESS),
    )


def _prepare_funds(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    invoice_id: str | None,
    retry_blocked: bool,
    *,
    hold: bool = False,
) -> _Prepared:
    summary = locked_summary(session, order_summary_id)
    by_id = {ps.id: ps for ps in repo.payment_summaries(session, summary.id)}
    pending = repo.payments(session, list(by_id), status=PaymentStatus.PENDING)
    # Captures on order are sent by `_prepare_order_capture`; while one is in flight (or
    # did not go through in this run: `hold`) the invoices wait for the money it brings.
    hold = hold or any(_on_order(p) for p in pending)
    pending = [p for p in pending if not _on_order(p)]
    prepared = _Prepared([], [], {}, {p.id: p.invoice_id for p in pending})
    prepared.calls = [capture_call(session, summary, by_id, p) for p in pending]
    busy = {p.invoice_id for p in pending}
    available = available_by_authorization(session, by_id)
    excess = excess_captured(session, summary.id)
    for invoice in repo.open_invoices(session, summary.id, invoice_id):
        prepared.invoice_ids.append(invoice.id)
        if invoice.id in busy:
            prepared.waited.add(invoice.id)
            continue
        if not retry_blocked and _blocked(session, invoice.id):
            continue
        if _apply_exchange_credit(session, outbox, summary, invoice) and invoice.balance == 0:
            continue  # an exchange's return credit paid it all
        plan = plan_captures(invoice.balance, excess, [] if hold else list(available.items()))
        if plan.from_excess:
            excess -= plan.from_excess
            prepared.from_excess[invoice.id] = plan.from_excess
            _apply_excess(session, outbox, summary, invoice, plan.from_excess)
        if hold:
            if invoice.balance > 0:
                prepared.waited.add(invoice.id)
            continue
        for capture in plan.captures:
            available[capture.authorization_id] -= capture.amount
            payment = new_capture(
                session, by_id, capture.authorization_id, capture.amount, invoice.id
            )
            prepared.invoice_of[payment.id] = invoice.id
            prepared.calls.append(capture_call(session, summary, by_id, payment))
        _report_shortfall(session, outbox, summary, invoice, plan.shortfall)
    session.flush()
    return prepared


# --- capturing on order ----------------------------------------------------------------------


def _on_order(payment: m.Payment) -> bool:
    return payment.idempotency_key.startswith(ORDER_CAPTURE_KEY_PREFIX)


def captures_on_order(session: Session, summary: m.OrderSummary) -> bool:
    """A MANAGED order of a channel whose `capture_policy` is "on_order"."""
    if summary.lifecycle != Lifecycle.MANAGED.value:
        return False
    return channel_policy(session, summary.channel).capture_policy is CapturePolicy.ON_ORDER


def _prepare_order_capture(
    session: Session, order_summary_id: str, retry_blocked: bool
) -> list[GatewayCall]:
    """The captures on order to send now: those PENDING (their own keys: an unknown answer
    is asked again, never charged twice), else, for an order that `captures_on_order`, new
    ones of what it still owes beyond the funds held and in flight (`OrderFunds.capture_due`:
    its whole grand total at first), planned over its authorizations like an invoice's, key
    `capture:order:{order_summary_id}:{payment_summary_id}:{n}`. Left alone while its high
    payment exception is open, unless `retry_blocked`."""
    summary = locked_summary(session, order_summary_id)
    by_id = {ps.id: ps for ps in repo.payment_summaries(session, summary.id)}
    pending = [
        p for p in repo.payments(session, list(by_id), status=PaymentStatus.PENDING) if _on_order(p)
    ]
    if pending:
        return [capture_call(session, summary, by_id, p) for p in pending]
    if not captures_on_order(session, summary):
        return []
    if not retry_blocked and _blocked_exception(session, _order_dedupe(summary.id)):
        return []
    due = order_funds(session, summary.id).capture_due
    if due == 0:
        return []
    available = available_by_authorization(session, by_id)
    calls = []
    for capture in plan_captures(due, 0, list(available.items())).captures:
        auth = session.get(m.PaymentAuthorization, capture.authorization_id)
        assert auth is not None
        prefix = order_capture_key(summary.id, auth.order_payment_summary_id, 0)[:-1]
        n = session.scalar(
            select(func.count()).where(
                m.Payment.idempotency_key.startswith(prefix, autoescape=True)
            )
        )
        key = order_capture_key(summary.id, auth.order_payment_summary_id, int(n or 0) + 1)
        payment = new_capture(session, by_id, auth.id, capture.amount, None, key=key)
        calls.append(capture_call(session, summary, by_id, payment))
    return calls


def _order_dedupe(order_summary_id: str) -> str:
    return f"payment:capture:order:{order_summary_id}"


def _apply_exchange_credit(
    session: Session, outbox: Outbox, summary: m.OrderSummary, invoice: m.Invoice
) -> int:
    """An exchange's return credit pays what the invoice bills for its new items before
    anything is captured (services/finance/credit.py); returns the amount applied. A memo
    left with a balance once its exchange owes nothing more is queued for ensure-refunds."""
    applied = apply_exchange_credit(session, outbox, summary, invoice)
    if applied:
        for memo_id in settled_exchange_memos(session, summary.id):
            enqueue(
                session,
                REFUND_JOB,
                refund_job_key(summary.id, f"exchange:{memo_id}"),
                {"order_summary_id": summary.id},
            )
    return applied


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


def _blocked(session: Session, invoice_id: str) -> bool:
    """A hard failure waits for a person before the gateway is asked again."""
    return _blocked_exception(session, f"payment:capture:{invoice_id}")


def _blocked_exception(session: Session, dedupe_key: str) -> bool:
    exception = active_exception(session, dedupe_key)
    return exception is not None and exception.severity == "high"


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
    ps = by_id[payment.order_payment_summary_id]
    auth = session.get(m.PaymentAuthorization, payment.payment_authorization_id)
    reference = auth.gateway_reference if auth is not None else None
    request = GatewayRequest(
        payment.idempotency_key, ps.token, payment.amount, summary.currency, reference
    )
    return GatewayCall(payment.id, ps.id, ps.gateway, GatewayOperation.CAPTURE, request)


def _apply_excess(
    session: Session, outbox: Outbox, summary: m.OrderSummary, invoice: m.Invoice, amount: int
) -> None:
    invoice.balance -= amount
    payload = {
        "invoice_id": invoice.id,
        "order_summary_id": summary.id,
        "amount": format_minor(amount, invoice.currency),
        "balance": format_minor(invoice.balance, invoice.currency),
    }
    outbox.record(
        session,
        [DomainEvent("invoice.excess_applied", "invoice", invoice.id, payload, summary.id)],
    )
    _mark_paid(session, outbox, summary, invoice)


def _mark_paid(
    session: Session, outbox: Outbox, summary: m.OrderSummary, invoice: m.Invoice
) -> None:
    if invoice.balance > 0 or invoice.status == repo.PAID:
        return
    invoice.status = repo.PAID
    payload = {"invoice_id": invoice.id, "order_summary_id": summary.id}
    outbox.record(
        session,
        [DomainEvent("invoice.paid", "invoice", invoice.id, payload, summary.id)],
    )


def _report_shortfall(
    session: Session, outbox: Outbox, summary: m.OrderSummary, invoice: m.Invoice, shortfall: int
) -> None:
    dedupe = f"payment:shortfall:{invoice.id}"
    if shortfall == 0:
        resolve_exception(session, outbox, dedupe, note="covered")
        return
    message = (
        f"invoice {invoice.id}: {format_minor(shortfall, invoice.currency)} {invoice.currency} "
        "is not covered by any authorization; add a payment method, then ensure funds"
    )
    record_exception(
        session,
        outbox,
        summary,
        dedupe_key=dedupe,
        severity="high",
        message=message,
        action=_ensure_funds_action(summary, invoice),
    )


def _ensure_funds_action(summary: m.OrderSummary, invoice: m.Invoice | None) -> dict[str, Any]:
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
    owned = invoice is not None or _on_order(payment)  # a job retries it, an exception tells
    if response.result is R.SUCCESS:
        _captured(session, outbox, summary, ps, payment, invoice, response)
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


def _captured(
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
        _mark_paid(session, outbox, summary, invoice)
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
    if _on_order(payment):
        return _order_dedupe(summary.id)
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
        action=_ensure_funds_action(summary, invoice),
    )
