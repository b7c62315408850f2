"""The automation gate: when an enabled flow runs on `order_summary.created`, a new order is
not routed before that flow has run on it, so a flow that holds (or cancels, or re-routes)
an order acts before routing does.

Capture reads whether such a flow exists in the round trip that reads the channel (no cost
when none is enabled), and then, instead of queueing routing, queues the gate job under
`automation_gate_key` in its own transaction. Routing routes no delivery group of the order
while any of its gates (`routing_gates`: this one and the authorization check's) is not
done. The flows area runs the flows on the order's created event (its outbox consumer, or
this job if that has not happened by `GATE_WAIT`), and, once every run on it has
succeeded (or did not match), marks the gate done and queues the order's routing in that
same transaction (services/flows/gate.py). A failed run keeps the gate shut until its retry
succeeds: a hold that could not be placed must not let the order through.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from openoms.adapters.jobs import enqueue
from openoms.services.orders.authorization_gate import routing_gate_key

AUTOMATION_GATE_JOB = "flows_gate"
# The outbox consumer normally opens the gate within a worker poll; the job runs the flows
# itself only when that has not happened by then (a backlog, a worker that was down).
GATE_WAIT = timedelta(seconds=30)


def automation_gate_key(summary_id: str) -> str:
    """The job routing waits for while the order's created event's flows have not run."""
    return f"{AUTOMATION_GATE_JOB}:{summary_id}"


def routing_gates(summary_id: str) -> tuple[str, str]:
    """Every job key routing waits for: the authorization check's and the automation
    gate's. A key with no job is open."""
    return routing_gate_key(summary_id), automation_gate_key(summary_id)


def queue_automation_gate(session: Session, summary_id: str, now: datetime) -> bool:
    """In the capture transaction: shut the order's automation gate."""
    payload = {"order_summary_id": summary_id}
    return enqueue(
        session,
        AUTOMATION_GATE_JOB,
        automation_gate_key(summary_id),
        payload,
        available_at=now + GATE_WAIT,
    )
