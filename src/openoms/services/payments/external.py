"""Money a channel's platform moved itself, recorded and never sent (docs/channels.md).

A Shopify order `paid` at checkout arrives captured: `record_external_capture` records, in
the caller's transaction, a PROCESSED capture of everything still available on the order's
authorizations with the platform's reference (key `capture:external:{authorization_id}`),
settled by the same `settle_captured` as a gateway's answer (`payment.captured` emitted).
Ensure funds then pays the shipment invoices from that excess and captures nothing.

A refund made in Shopify is `record_external_refund`: PROCESSED refunds with no credit memo,
planned over the order's PROCESSED captures like an agent's refund, keyed
`refund:external:{source}:{payment_id}` (`refund.processed` emitted). The money left
`held`, so ensure refunds never sends it again; a replay of the same `source` finds it
recorded and records nothing. Reconciliation lists it as refunded without a credit memo.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import RefundExceedsCaptured
from openoms.domain.finance import plan_refunds
from openoms.domain.money import format_minor
from openoms.domain.payments import (
    EXTERNAL_CAPTURE_KEY_PREFIX,
    PaymentStatus,
    external_refund_key,
)
from openoms.domain.ports import GatewayResponse, GatewayResult
from openoms.services.orders import locked_summary
from openoms.services.payments.captures import (
    available_by_authorization,
    new_capture,
    settle_captured,
)
from openoms.services.payments.refund_keys import refund_event


def record_external_capture(
    session: Session, outbox: Outbox, order_summary_id: str, reference: str
) -> int:
    """Record what is still available on the order's authorizations as captured by the
    platform (reference `reference`); returns the amount recorded (0 on a second call)."""
    summary = locked_summary(session, order_summary_id)
    by_id = {ps.id: ps for ps in repo.payment_summaries(session, summary.id)}
    recorded = 0
    for auth_id, amount in available_by_authorization(session, by_id).items():
        if amount <= 0:
            continue
        key = f"{EXTERNAL_CAPTURE_KEY_PREFIX}{auth_id}"
        payment = new_capture(session, by_id, auth_id, amount, None, key=key)
        ps = by_id[payment.order_payment_summary_id]
        answer = GatewayResponse(GatewayResult.SUCCESS, amount, reference, "paid in the channel")
        settle_captured(session, outbox, summary, ps, payment, None, answer)
        recorded += amount
    session.flush()
    return recorded


def record_external_refund(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    *,
    source: str,
    amount: int,
    reference: str | None,
) -> int | None:
    """Record `amount` (minor units) refunded by the platform (`source` names its refund,
    `reference` its transaction) over the order's PROCESSED captures; returns the amount
    recorded now (0 when `source` was recorded before, or for 0), None for an order on
    account (no payment: openoms holds none of its money). More than openoms holds captured
    → `RefundExceedsCaptured` (409), nothing recorded."""
    summary = locked_summary(session, order_summary_id)
    by_id = {ps.id: ps for ps in repo.payment_summaries(session, summary.id)}
    if not by_id:
        return None
    if amount <= 0 or repo.refunds_keyed(session, list(by_id), external_refund_key(source, "")):
        return 0
    payments: dict[str, tuple[m.Payment, int]] = {}
    for ps_id in by_id:
        for payment, taken in repo.refundable_payments_of(session, ps_id):
            payments[payment.id] = (payment, payment.amount - taken)
    plan = plan_refunds(amount, [(pid, left) for pid, (_, left) in payments.items()])
    if plan.shortfall:
        held = format_minor(amount - plan.shortfall, summary.currency)
        raise RefundExceedsCaptured(
            f"the platform refunded {format_minor(amount, summary.currency)} "
            f"{summary.currency} but openoms holds only {held} captured on order {summary.id} "
            "(was it captured outside openoms?): nothing was recorded",
            available_to_refund=held,
        )
    now = utcnow()
    for payment_id, part in plan.parts:
        payment = payments[payment_id][0]
        ps = by_id[payment.order_payment_summary_id]
        refund = m.Refund(
            id=new_id("rf"),
            order_payment_summary_id=ps.id,
            payment_id=payment.id,
            credit_memo_id=None,
            amount=part,
            status=PaymentStatus.PROCESSED.value,
            idempotency_key=external_refund_key(source, payment.id),
            gateway_reference=reference,
            created_at=now,
            updated_at=now,
        )
        session.add(refund)
        ps.refunded += part
        session.flush()
        outbox.record(session, [refund_event("refund.processed", refund, ps)])
    return amount
