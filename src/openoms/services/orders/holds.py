"""Holds on an order summary: while one is active, no delivery group of the order is routed.

A hold is placed (`place_hold`) and lifted (`release_hold`) under the summary's row lock,
the lock every routing job takes before it routes a group of the order, so a hold and a
routing round never interleave: a hold placed while a round runs waits for it (the round
routes; the hold applies to every later one), and a round that starts after a hold is
committed sees it and routes nothing (routing/jobs.py and routing/route.py ask `is_held`).
A routing job that finds the order held finishes without routing and without spending a
retry; releasing the last active hold queues a `route_order` job that resumes the routing
of every group of the order, in the release's transaction, so it runs at once.

A hold does not undo routing already done: fulfillment orders made before it stay. A hold
on an order with nothing left to route (FULFILLED, CANCELED, CLOSED) is refused
(`order_not_holdable`). A held order can still be canceled; its holds stay until released.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories.holds import active_holds, is_held
from openoms.adapters.jobs import enqueue
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import (
    HoldNotActive,
    HoldReasonRequired,
    OrderNotHoldable,
    ValidationFailed,
)
from openoms.domain.events import DomainEvent
from openoms.domain.summary import OrderSummaryStatus
from openoms.services.orders.capture_routing import ROUTE_ORDER_JOB
from openoms.services.orders.summary import locked_summary

MAX_REASON = 500
# Nothing left to route: a hold on these would hold nothing.
NOT_HOLDABLE = frozenset(
    {OrderSummaryStatus.FULFILLED, OrderSummaryStatus.CANCELED, OrderSummaryStatus.CLOSED}
)

__all__ = ["hold_view", "is_held", "place_hold", "release_hold", "resume_job_key"]


def resume_job_key(summary_id: str, hold_id: str) -> str:
    """The key of the `route_order` job that resumes an order's routing when `hold_id`, its
    last active hold, is released (one per release: a later hold and release queue another)."""
    return f"route_order:{summary_id}:released:{hold_id}"


def place_hold(
    session: Session, outbox: Outbox, *, order_summary_id: str, reason: str, held_by: str
) -> m.OrderSummaryHold:
    """Hold the order: its routing waits until every hold is released. Emits
    `order_summary.held`. OrderSummaryNotFound for an unknown order, HoldReasonRequired for
    a blank reason, OrderNotHoldable when the order is FULFILLED, CANCELED or CLOSED."""
    text = _reason(reason, field="reason", required=True) or ""
    summary = locked_summary(session, order_summary_id)
    if summary.status in NOT_HOLDABLE:
        raise OrderNotHoldable(
            f"order summary '{order_summary_id}' is {summary.status}: nothing is left to route",
            order_summary_id=order_summary_id,
            order_status=summary.status,
        )
    hold = m.OrderSummaryHold(
        id=new_id("hold"),
        order_summary_id=summary.id,
        reason=text,
        held_by=held_by,
        held_at=utcnow(),
    )
    session.add(hold)
    payload = {
        "order_summary_id": summary.id,
        "hold_id": hold.id,
        "reason": text,
        "by": held_by,
        "at": _iso(hold.held_at),
    }
    outbox.record(session, [_event("order_summary.held", summary.id, payload)])
    return hold


def release_hold(
    session: Session,
    outbox: Outbox,
    *,
    order_summary_id: str,
    released_by: str,
    hold_id: str | None = None,
    reason: str | None = None,
) -> list[m.OrderSummaryHold]:
    """Release the active hold `hold_id` of the order, or every active hold when it is None;
    returns those released. Emits `order_summary.released` for each. When no active hold is
    left, queues the routing of the order (a `route_order` job, due now). HoldNotActive when
    `hold_id` is not an active hold of the order, or the order has none."""
    why = _reason(reason, field="reason", required=False)
    summary = locked_summary(session, order_summary_id)
    active = active_holds(session, summary.id)
    chosen = [h for h in active if hold_id is None or h.id == hold_id]
    if not chosen:
        named = f"hold '{hold_id}' is not an active hold of" if hold_id else "no active hold on"
        raise HoldNotActive(
            f"{named} order summary '{order_summary_id}'",
            field="hold_id" if hold_id else None,
            order_summary_id=order_summary_id,
            hold_id=hold_id,
        )
    now = utcnow()
    still_held = len(chosen) < len(active)
    events = []
    for hold in chosen:
        hold.released_at, hold.released_by, hold.release_reason = now, released_by, why
        payload = {
            "order_summary_id": summary.id,
            "hold_id": hold.id,
            "reason": why,
            "hold_reason": hold.reason,
            "by": released_by,
            "at": _iso(now),
            "on_hold": still_held,
        }
        events.append(_event("order_summary.released", summary.id, payload))
    outbox.record(session, events)
    if not still_held:
        job = {"order_summary_id": summary.id, "resume": True}
        enqueue(session, ROUTE_ORDER_JOB, resume_job_key(summary.id, chosen[-1].id), job)
    return chosen


def hold_view(hold: m.OrderSummaryHold) -> dict[str, Any]:
    """A hold as the order summary's view shows it."""
    return {
        "id": hold.id,
        "reason": hold.reason,
        "held_by": hold.held_by,
        "held_at": _iso(hold.held_at),
        "released_at": _iso(hold.released_at) if hold.released_at else None,
        "released_by": hold.released_by,
        "release_reason": hold.release_reason,
    }


def _reason(value: str | None, *, field: str, required: bool) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise HoldReasonRequired("a hold needs a reason (not blank)", field=field)
        return None
    if len(text) > MAX_REASON:
        raise ValidationFailed(f"{field} is longer than {MAX_REASON} characters", field=field)
    return text


def _event(name: str, summary_id: str, payload: dict[str, Any]) -> DomainEvent:
    return DomainEvent(name, "order_summary", summary_id, payload, summary_id)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
