"""Ensuring funds for invoices (DESIGN.md §7): every POSTED invoice with a balance is paid
from an exchange's credit, then from excess captured funds, then by captures against the
order's authorizations as `plan_captures` says. Captures are recorded, sent and settled as
payments/captures.py describes (keys `capture:{invoice_id}:{authorization_id}:{n}`); an
"on_order" channel's order is captured first (payments/order_captures.py) and its invoices
wait for that money.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.jobs import enqueue
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.domain.events import DomainEvent
from openoms.domain.money import format_minor
from openoms.domain.payments import PaymentStatus, plan_captures
from openoms.domain.ports import GatewayResponse, GatewayResult
from openoms.services.exceptions import resolve_exception
from openoms.services.finance import apply_exchange_credit, settled_exchange_memos
from openoms.services.orders import locked_summary
from openoms.services.payments.authorizations import authorize_payments
from openoms.services.payments.captures import (
    available_by_authorization,
    blocked_exception,
    capture_call,
    ensure_funds_action_for,
    is_order_capture,
    mark_paid,
    new_capture,
    send_captures,
)
from openoms.services.payments.gateway_calls import (
    GatewayCall,
    excess_captured,
    record_exception,
    retry_detail,
)
from openoms.services.payments.order_captures import prepare_order_capture
from openoms.services.payments.refund_keys import REFUND_JOB, refund_job_key


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
    `prepare_order_capture`), resend PENDING captures with their own keys, apply excess
    captured funds, then capture against authorizations as `plan_captures` says, one Payment
    per capture and never more than available to capture. An invoice (or an order capture)
    with an open high payment exception is left alone unless `retry_blocked` (an agent
    asked). Emits `payment.captured`, `invoice.excess_applied`, `invoice.paid`. Safe to run
    twice or concurrently."""
    authorized = authorize_payments(db, outbox, gateways, order_summary_id)

    def prepare_order() -> list[GatewayCall]:
        with db.transaction() as session:
            return prepare_order_capture(session, order_summary_id, retry_blocked)

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
    funds = _invoice_funds(db, prepared, results)
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


def _invoice_funds(
    db: Database, prepared: _Prepared, results: list[tuple[GatewayCall, GatewayResponse]]
) -> tuple[InvoiceFunds, ...]:
    """Each invoice this run looked at, as it is now, with what the run captured for it."""
    captured: dict[str | None, int] = {}
    for call, response in results:
        if response.result is GatewayResult.SUCCESS:
            owner = prepared.invoice_of[call.row_id]
            captured[owner] = captured.get(owner, 0) + response.amount
    with db.reading() as session:
        invoices = [session.get(m.Invoice, i) for i in prepared.invoice_ids]
    return tuple(
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
    # Captures on order are sent by `prepare_order_capture`; while one is in flight (or
    # did not go through in this run: `hold`) the invoices wait for the money it brings.
    hold = hold or any(is_order_capture(p) for p in pending)
    pending = [p for p in pending if not is_order_capture(p)]
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


def _blocked(session: Session, invoice_id: str) -> bool:
    """A hard failure waits for a person before the gateway is asked again."""
    return blocked_exception(session, f"payment:capture:{invoice_id}")


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
    mark_paid(session, outbox, summary, invoice)


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
        action=ensure_funds_action_for(summary, invoice),
    )
