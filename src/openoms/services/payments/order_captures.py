"""Capturing on order (DESIGN.md §7): a MANAGED order of a channel whose `capture_policy` is
"on_order" is captured for what it owes as soon as it is authorized, before any invoice;
the invoices then use the excess first (payments/funds.py). Sent and settled like every
capture (payments/captures.py)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import payments as repo
from openoms.domain.order import Lifecycle
from openoms.domain.payments import PaymentStatus, order_capture_key, plan_captures
from openoms.services.orders import CapturePolicy, channel_policy, locked_summary
from openoms.services.payments.captures import (
    available_by_authorization,
    blocked_exception,
    capture_call,
    is_order_capture,
    new_capture,
    order_capture_dedupe,
)
from openoms.services.payments.gateway_calls import GatewayCall, order_funds


def captures_on_order(session: Session, summary: m.OrderSummary) -> bool:
    """A MANAGED order of a channel whose `capture_policy` is "on_order"."""
    if summary.lifecycle != Lifecycle.MANAGED.value:
        return False
    return channel_policy(session, summary.channel).capture_policy is CapturePolicy.ON_ORDER


def prepare_order_capture(
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
        p
        for p in repo.payments(session, list(by_id), status=PaymentStatus.PENDING)
        if is_order_capture(p)
    ]
    if pending:
        return [capture_call(session, summary, by_id, p) for p in pending]
    if not captures_on_order(session, summary):
        return []
    if not retry_blocked and blocked_exception(session, order_capture_dedupe(summary.id)):
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
        n = repo.count_payments_keyed(session, prefix)
        key = order_capture_key(summary.id, auth.order_payment_summary_id, n + 1)
        payment = new_capture(session, by_id, auth.id, capture.amount, None, key=key)
        calls.append(capture_call(session, summary, by_id, payment))
    return calls
