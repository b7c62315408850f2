"""An agent's capture on one payment method, outside any document (DESIGN.md §12).

`prepare_capture` records PENDING captures in the caller's transaction (the API runs it
under the request's `Idempotency-Key`), `send_pending` calls the gateway with no
transaction open and settles. The funds captured become excess that later invoices use
first (see `ensure_funds`). An agent's refund works the same way (payments/agent_refunds.py).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.domain.errors import AmountInvalid, Conflict, CurrencyMismatch, DomainError, NotFound
from openoms.domain.money import Money, format_minor
from openoms.domain.payments import PaymentStatus, plan_captures
from openoms.domain.ports import GatewayResponse
from openoms.services.orders import locked_summary
from openoms.services.payments.captures import (
    available_by_authorization,
    capture_call,
    new_capture,
    send_captures,
)
from openoms.services.payments.gateway_calls import GatewayCall


class PaymentSummaryNotFound(NotFound):
    code = "payment_summary_not_found"
    title = "Payment summary not found"


class CaptureExceedsAuthorized(Conflict):
    code = "capture_exceeds_authorized"
    title = "Capture exceeds what is authorized"


class PaymentDeclined(DomainError):
    code = "payment_declined"
    status = 402
    title = "The payment gateway refused the capture"


def prepare_capture(
    session: Session, order_summary_id: str, payment_summary_id: str, amount: Money
) -> list[str]:
    """Record PENDING captures of `amount` on one payment summary (sent by `send_pending`);
    the funds become excess that later invoices use first. Returns the payment ids.
    More than available to capture → 409 `capture_exceeds_authorized`, nothing recorded."""
    summary, by_id, ps = checked_payment_summary(
        session, order_summary_id, payment_summary_id, amount
    )
    available = available_by_authorization(session, by_id, only=ps.id)
    plan = plan_captures(amount.minor, 0, list(available.items()))
    if plan.shortfall:
        can = format_minor(amount.minor - plan.shortfall, summary.currency)
        raise CaptureExceedsAuthorized(
            f"cannot capture {amount} {summary.currency}: {can} is available to capture on "
            f"payment summary {ps.id}",
            available_to_capture=can,
        )
    return [
        new_capture(session, by_id, c.authorization_id, c.amount, None).id for c in plan.captures
    ]


def send_pending(
    db: Database, outbox: Outbox, gateways: Gateways, order_summary_id: str, payment_ids: list[str]
) -> list[tuple[GatewayCall, GatewayResponse]]:
    """Send those of `payment_ids` still PENDING (with their own keys) and settle them."""

    def prepare() -> list[GatewayCall]:
        with db.transaction() as session:
            summary = locked_summary(session, order_summary_id)
            by_id = {ps.id: ps for ps in repo.payment_summaries(session, summary.id)}
            pending = repo.payments(session, list(by_id), status=PaymentStatus.PENDING)
            return [
                capture_call(session, summary, by_id, p) for p in pending if p.id in payment_ids
            ]

    return send_captures(db, outbox, gateways, order_summary_id, retry_transient(prepare))


def capture_payment(
    db: Database,
    outbox: Outbox,
    gateways: Gateways,
    order_summary_id: str,
    payment_summary_id: str,
    amount: Money,
) -> list[str]:
    """Capture `amount` on a payment summary now (prepare, send, settle); the payment ids."""

    def prepare() -> list[str]:
        with db.transaction() as session:
            return prepare_capture(session, order_summary_id, payment_summary_id, amount)

    ids = retry_transient(prepare)
    send_pending(db, outbox, gateways, order_summary_id, ids)
    return ids


def payments_of(session: Session, payment_ids: list[str]) -> list[m.Payment]:
    """The payments an agent's capture created, to answer with."""
    return list(repo.payments_by_id(session, payment_ids).values())


def checked_payment_summary(
    session: Session, order_summary_id: str, payment_summary_id: str, amount: Money
) -> tuple[m.OrderSummary, dict[str, m.OrderPaymentSummary], m.OrderPaymentSummary]:
    """The locked summary, its payment summaries by id and the one asked for, once the
    payment summary is the order's and the amount positive in the order's currency."""
    summary = locked_summary(session, order_summary_id)
    by_id = {ps.id: ps for ps in repo.payment_summaries(session, summary.id)}
    ps = by_id.get(payment_summary_id)
    if ps is None:
        raise PaymentSummaryNotFound(
            f"order summary {summary.id} has no payment summary {payment_summary_id}",
            payment_summary_id=payment_summary_id,
        )
    if amount.currency != summary.currency:
        raise CurrencyMismatch(
            f"the order is in {summary.currency}, not {amount.currency}", field="currency"
        )
    if amount.minor <= 0:
        raise AmountInvalid("amount must be positive", field="amount")
    return summary, by_id, ps
