"""Process exceptions (DESIGN.md §3, §4): something that needs a person.

One open exception per failing thing: raising again under the same `dedupe_key` refreshes
the open one (message, action, occurrences + 1) instead of adding another. The order
summary's `active_process_exception_count` moves with every exception that opens or
closes, in the same transaction.

A person works the queue (exception_queue.py) and retries the failed action
(exception_retry.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import OrderSummary, ProcessException, utcnow
from openoms.adapters.db.repositories import exceptions as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import (
    ACTIVE_EXCEPTION_STATUSES,
    ProcessExceptionCategory,
    ProcessExceptionStatus,
    check_process_exception_transition,
)

_ACTIVE = sorted(s.value for s in ACTIVE_EXCEPTION_STATUSES)


def raise_exception(
    session: Session,
    outbox: Outbox,
    *,
    order_summary_id: str | None,
    category: ProcessExceptionCategory,
    severity: str,
    dedupe_key: str,
    message: str,
    action: dict[str, Any],
) -> tuple[ProcessException, bool]:
    """Open an exception, or refresh the open one with this `dedupe_key`. Returns it and
    whether it is new; a new one raises the summary's count and emits
    `process_exception.raised`."""
    existing = active_exception(session, dedupe_key)
    if existing is not None:
        existing.occurrences += 1
        existing.message = message
        existing.action = action
        existing.updated_at = utcnow()
        return existing, False
    exception = ProcessException(
        id=new_id("pe"),
        order_summary_id=order_summary_id,
        category=category.value,
        severity=severity,
        status=ProcessExceptionStatus.NEW.value,
        message=message,
        action=action,
        dedupe_key=dedupe_key,
        occurrences=1,
    )
    session.add(exception)
    count_active(session, order_summary_id, +1)
    outbox.record(session, [exception_event("process_exception.raised", exception)])
    return exception, True


def resolve_exception(
    session: Session, outbox: Outbox, dedupe_key: str, *, note: str
) -> ProcessException | None:
    """Resolve the open exception with this `dedupe_key` (the failure went away), lowering
    the summary's count and emitting `process_exception.resolved`; None when none is open."""
    exception = active_exception(session, dedupe_key)
    if exception is None:
        return None
    check_process_exception_transition(
        ProcessExceptionStatus(exception.status), ProcessExceptionStatus.RESOLVED
    )
    exception.status = ProcessExceptionStatus.RESOLVED.value
    exception.updated_at = utcnow()
    count_active(session, exception.order_summary_id, -1)
    outbox.record(session, [exception_event("process_exception.resolved", exception, note=note)])
    return exception


def active_exception(session: Session, dedupe_key: str) -> ProcessException | None:
    """The open exception with this `dedupe_key`, if any."""
    return repo.latest_with_key(session, dedupe_key, _ACTIVE)


def count_active(session: Session, order_summary_id: str | None, delta: int) -> None:
    if order_summary_id is None:
        return
    # The caller holds the summary (and its lock); the identity map returns that object.
    summary = session.get(OrderSummary, order_summary_id)
    if summary is not None:
        summary.active_process_exception_count = max(
            summary.active_process_exception_count + delta, 0
        )


def exception_event(name: str, exception: ProcessException, **extra: Any) -> DomainEvent:
    return DomainEvent(
        name=name,
        aggregate_type="process_exception",
        aggregate_id=exception.id,
        order_summary_id=exception.order_summary_id,
        payload={
            "process_exception_id": exception.id,
            "order_summary_id": exception.order_summary_id,
            "category": exception.category,
            "severity": exception.severity,
            "status": exception.status,
            "message": exception.message,
            "occurrences": exception.occurrences,
            **extra,
        },
    )
