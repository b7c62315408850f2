"""The flows' side of the automation gate (services/orders/automation_gate.py): once every
flow run on an order's `order_summary.created` event has succeeded or not matched, the gate
opens and the order's routing is queued, in the transaction that made it so."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import flows as repo
from openoms.services.orders import automation_gate_key, locked_summary, release_order_routing

CREATED = "order_summary.created"
# Runs that keep the gate shut: a run not finished, or failed and waiting for its retry.
SHUTTING = frozenset({"running", "failed"})


def open_gate_when_ready(session: Session, event: m.Event) -> bool:
    """Open the order's automation gate when `event` is its creation and no run on it is
    failed; True when this call opened it (and queued the order's routing)."""
    if event.name != CREATED or event.order_summary_id is None:
        return False
    if SHUTTING & set(repo.run_statuses(session, event.event_id)):
        return False
    key = automation_gate_key(event.order_summary_id)
    if not repo.gate_shut(session, key):
        return False  # no gate (captured with no flow enabled), or opened already
    # The summary's lock first, as routing takes it: a routing job that read the gate shut
    # has committed (and marked itself done) before the routing queued here is written, so
    # it runs again and finds the gate open.
    locked_summary(session, event.order_summary_id)
    if not repo.open_gate(session, key):
        return False
    release_order_routing(session, event.order_summary_id)
    return True


def gate_still_shut(session: Session, order_summary_id: str) -> bool:
    return repo.gate_shut(session, automation_gate_key(order_summary_id))
