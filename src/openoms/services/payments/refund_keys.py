"""What refunds share (DESIGN.md §7): the job's name and key, the lease that keeps a racing
caller off a PENDING refund, the keys of a refund's exception, and its events' shape."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from openoms.adapters.db import models as m
from openoms.domain.events import DomainEvent
from openoms.domain.payments import PaymentStatus

REFUND_JOB = "ensure_refunds"
LEASE = timedelta(minutes=2)
RefundStatus = PaymentStatus


def refund_job_key(order_summary_id: str, credit_memo_id: str) -> str:
    return f"{REFUND_JOB}:{order_summary_id}:{credit_memo_id}"


def pair_key(memo_id: str | None, payment_id: str, summary_id: str) -> str:
    """`refund:{credit_memo_id}:{payment_id}`, `refund:excess:{summary}:{payment_id}` for
    excess funds: a refund's first key, and the key of its exception whichever attempt."""
    return f"refund:{memo_id or f'excess:{summary_id}'}:{payment_id}"


def exception_key(refund: m.Refund, summary_id: str) -> str:
    """The exception of the refund's memo (or excess funds) and payment, whichever attempt
    this refund is; an agent's refund keeps its own key."""
    base = pair_key(refund.credit_memo_id, refund.payment_id, summary_id)
    key = refund.idempotency_key
    return base if key == base or key.startswith(f"{base}:") else key


def refund_event(
    name: str, refund: m.Refund, ops: m.OrderPaymentSummary, **extra: Any
) -> DomainEvent:
    return DomainEvent(
        name,
        "refund",
        refund.id,
        {
            "refund_id": refund.id,
            "order_summary_id": ops.order_summary_id,
            "order_payment_summary_id": ops.id,
            "payment_id": refund.payment_id,
            "credit_memo_id": refund.credit_memo_id,
            "amount": refund.amount,
            "status": refund.status,
            **extra,
        },
        ops.order_summary_id,
    )
