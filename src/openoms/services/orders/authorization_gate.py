"""The authorization gate: an order whose channel reports authorizations made elsewhere is
routed only once they are checked. Capture queues the check (`queue_verification`) under
the routing gate key; routing routes no delivery group of the order while that job is not
done; payments runs the job (services/payments/verification.py)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openoms.adapters.jobs import enqueue
from openoms.domain.order import OrderDraft

VERIFY_JOB = "verify_authorizations"


def routing_gate_key(summary_id: str) -> str:
    """The job routing waits for: while a job with this key exists and is not done (the
    check of the order's reported authorizations, services/payments/verification.py), no
    delivery group of the order is routed."""
    return f"verify_authorizations:{summary_id}"


def queue_verification(session: Session, order_summary_id: str, draft: OrderDraft) -> bool:
    """In the capture transaction: queue the check of the draft's reported authorizations
    (those with an `authorization_reference`); False when there are none."""
    references = [p.authorization_reference for p in draft.payments if p.authorization_reference]
    if not references:
        return False
    payload = {"order_summary_id": order_summary_id, "references": references}
    return enqueue(session, VERIFY_JOB, routing_gate_key(order_summary_id), payload)
