"""Routing queued by capture itself: one `route_order` job per managed order, inserted in
the capture's transaction, so routing waits for no outbox delivery and a rolled-back
capture queues nothing. Routing (services/routing/jobs.py) runs the job: round 1 of every
delivery group of the order, in one transaction. An order whose reported authorizations
must be checked first is not queued here: the check queues its routing when it passes
(authorization_gate.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from openoms.adapters.jobs import enqueue, requeue

ROUTE_ORDER_JOB = "route_order"


def route_order_job_key(summary_id: str) -> str:
    """The key of an order's `route_order` job: one per order, ever."""
    return f"route_order:{summary_id}"


def queue_order_routing(
    session: Session, summary_id: str, group_ids: Sequence[str] | None = None
) -> bool:
    """Queue the routing of every delivery group of the order (its `group_ids`, by position,
    when the caller has them; else the job reads them). False when it is queued already."""
    payload: dict[str, object] = {"order_summary_id": summary_id}
    if group_ids is not None:
        payload["group_summary_ids"] = list(group_ids)
    return enqueue(session, ROUTE_ORDER_JOB, route_order_job_key(summary_id), payload)


def release_order_routing(session: Session, summary_id: str) -> None:
    """Queue the order's `route_order` job, or run it again when it ran already (it found
    the order gated, or the routing consumer queued it while a gate was shut): a gate that
    opens calls this in the transaction that opens it."""
    if not queue_order_routing(session, summary_id):
        requeue(session, route_order_job_key(summary_id))
