"""Process exceptions (DESIGN.md §3, §4): something that needs a person.

One open exception per failing thing: raising again under the same `dedupe_key` refreshes
the open one (message, action, occurrences + 1) instead of adding another. The order
summary's `active_process_exception_count` moves with every exception that opens or
closes, in the same transaction.

A person works the queue: `triage`, `pause`, `resolve`, `ignore`, `void` move an exception
through the one transition table (domain/fulfillment.py); `retry_exception` runs its failed
action again by putting the very job that failed (same kind, same dedupe key) back in the
queue. The exception stays open while the job runs: the job's success resolves it, and
another failure refreshes it (occurrences + 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import Job, OrderSummary, ProcessException, utcnow
from openoms.adapters.db.repositories.fulfillment import lock_summary
from openoms.adapters.jobs import enqueue, requeue
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import (
    IllegalTransition,
    ProcessExceptionActionUnknown,
    ProcessExceptionNotActive,
    ProcessExceptionNotFound,
)
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import (
    ACTIVE_EXCEPTION_STATUSES,
    PROCESS_EXCEPTION_TRANSITIONS,
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
    _count(session, order_summary_id, +1)
    outbox.record(session, [_event("process_exception.raised", exception)])
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
    _count(session, exception.order_summary_id, -1)
    outbox.record(session, [_event("process_exception.resolved", exception, note=note)])
    return exception


def active_exception(session: Session, dedupe_key: str) -> ProcessException | None:
    return session.scalars(
        select(ProcessException)
        .where(ProcessException.dedupe_key == dedupe_key, ProcessException.status.in_(_ACTIVE))
        .order_by(ProcessException.created_at.desc())
        .limit(1)
    ).first()


# --- the queue: reading -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExceptionFilter:
    """What to list: each given field must match; `statuses` is any of them."""

    category: str | None = None
    severity: str | None = None
    statuses: tuple[str, ...] = ()
    order_summary_id: str | None = None


def list_exceptions(
    session: Session, where: ExceptionFilter, *, after_id: str | None = None, limit: int = 50
) -> Sequence[ProcessException]:
    """Exceptions oldest first (ids sort by creation), filtered, `limit` after `after_id`."""
    query = select(ProcessException).order_by(ProcessException.id).limit(limit)
    if where.category is not None:
        query = query.where(ProcessException.category == where.category)
    if where.severity is not None:
        query = query.where(ProcessException.severity == where.severity)
    if where.statuses:
        query = query.where(ProcessException.status.in_(where.statuses))
    if where.order_summary_id is not None:
        query = query.where(ProcessException.order_summary_id == where.order_summary_id)
    if after_id is not None:
        query = query.where(ProcessException.id > after_id)
    return session.scalars(query).all()


def get_exception(session: Session, exception_id: str) -> ProcessException:
    exception = session.get(ProcessException, exception_id)
    if exception is None:
        raise ProcessExceptionNotFound(
            f"no process exception {exception_id!r}", process_exception_id=exception_id
        )
    return exception


def exception_view(exception: ProcessException) -> dict[str, Any]:
    """The public body of an exception (schemas/process_exceptions.py)."""
    action = exception.action or {}
    return {
        "id": exception.id,
        "order_summary_id": exception.order_summary_id,
        "category": exception.category,
        "severity": exception.severity,
        "priority": exception.priority,
        "status": exception.status,
        "message": exception.message,
        "action": {"kind": action.get("kind"), "payload": dict(action.get("payload") or {})},
        "occurrences": exception.occurrences,
        "created_at": _iso(exception.created_at),
        "updated_at": _iso(exception.updated_at),
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# --- the queue: a person's moves ----------------------------------------------------------


class ExceptionMove(StrEnum):
    """An agent's move, named by the status it leads to."""

    TRIAGE = "triage"
    PAUSE = "pause"
    RESOLVE = "resolve"
    IGNORE = "ignore"
    VOID = "void"


_S = ProcessExceptionStatus
_TARGET = {
    ExceptionMove.TRIAGE: _S.TRIAGED,
    ExceptionMove.PAUSE: _S.PAUSED,
    ExceptionMove.RESOLVE: _S.RESOLVED,
    ExceptionMove.IGNORE: _S.IGNORED,
    ExceptionMove.VOID: _S.VOIDED,
}
_MOVE = {target: move for move, target in _TARGET.items()}


def move_exception(
    session: Session,
    outbox: Outbox,
    exception_id: str,
    move: ExceptionMove,
    *,
    note: str | None = None,
) -> ProcessException:
    """Triage, pause, resolve, ignore or void the exception (the transition table decides
    what is allowed: an illegal move is `IllegalTransition`, nothing changed). The summary's
    count moves only when the exception leaves the active set. Emits
    `process_exception.<triaged|paused|resolved|ignored|voided>` with the note."""
    exception = _locked(session, exception_id)
    current, target = _S(exception.status), _TARGET[move]
    _check_move(exception, current, target)
    _set_status(session, exception, current, target)
    name = f"process_exception.{target.value.lower()}"
    outbox.record(session, [_event(name, exception, note=note, previous_status=current.value)])
    session.flush()
    return exception


def _check_move(
    exception: ProcessException, current: ProcessExceptionStatus, target: ProcessExceptionStatus
) -> None:
    try:
        check_process_exception_transition(current, target)
    except IllegalTransition:
        allowed = sorted(_MOVE[s].value for s in PROCESS_EXCEPTION_TRANSITIONS[current])
        then = (
            f"allowed now: {', '.join(allowed)}"
            if allowed
            else "it is closed; nothing more can be done with it"
        )
        raise IllegalTransition(
            f"process exception {exception.id} is {current.value}: it cannot be "
            f"{target.value.lower()} ({then})",
            current=current.value,
            target=target.value,
            allowed_actions=allowed,
        ) from None


def _set_status(
    session: Session,
    exception: ProcessException,
    current: ProcessExceptionStatus,
    target: ProcessExceptionStatus,
) -> None:
    exception.status = target.value
    exception.updated_at = utcnow()
    was, now = current in ACTIVE_EXCEPTION_STATUSES, target in ACTIVE_EXCEPTION_STATUSES
    _count(session, exception.order_summary_id, int(now) - int(was))


def _locked(session: Session, exception_id: str) -> ProcessException:
    """The exception, locked after its summary (the order raisers take the locks in)."""
    summary_id = get_exception(session, exception_id).order_summary_id
    if summary_id is not None:
        lock_summary(session, summary_id)  # its active count moves
    return session.scalars(
        select(ProcessException)
        .where(ProcessException.id == exception_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


# --- the queue: retrying the failed action ------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryJob:
    """The job that failed: its kind, its dedupe key and the payload to queue it with."""

    kind: str
    key: str
    payload: dict[str, Any]
    # The payload says what only an agent's retry may do (labels.py: ask the carrier while
    # the exception is open; payments.py: `retry_blocked`, capture an invoice a hard
    # failure holds for a person): it replaces the queued job's payload.
    agent_payload: bool = False


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    exception: ProcessException
    job: RetryJob
    requeued: bool  # False: the job was waiting to run already, nothing changed


def retry_exception(
    session: Session,
    outbox: Outbox,
    exception_id: str,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> RetryOutcome:
    """Run an open exception's failed action again: its job (same kind and key) is revived
    when done or dead, brought forward when backing off, queued anew when gone. The
    exception stays open: the job's success resolves it, another failure refreshes it. A
    label job asks no carrier while its exception is open (labels.py) unless an agent's retry
    queued it: the retry's payload says so. Idempotent: while the job is due to run (with the
    retry's payload), a retry changes nothing. Emits `process_exception.retry_requested`."""
    exception = _locked(session, exception_id)
    current = _S(exception.status)
    if current not in ACTIVE_EXCEPTION_STATUSES:
        raise ProcessExceptionNotActive(
            f"process exception {exception.id} is {current.value}: only an open one (NEW, "
            "TRIAGED or PAUSED) can be retried",
            current=current.value,
        )
    job = _retry_job(session, exception)
    if not _rerun(session, job, now or utcnow()):
        return RetryOutcome(exception, job, requeued=False)
    event = _event("process_exception.retry_requested", exception, note=note, job_kind=job.kind)
    outbox.record(session, [event])
    session.flush()
    return RetryOutcome(exception, job, requeued=True)


def _rerun(session: Session, job: RetryJob, now: datetime) -> bool:
    """Queue the job again; False when it is pending and due already (nothing to do)."""
    row = session.execute(
        select(Job.status, Job.available_at <= now, Job.payload).where(Job.dedupe_key == job.key)
    ).first()
    if row is None:
        return enqueue(session, job.kind, job.key, job.payload)
    status, due, payload = row
    stale = job.agent_payload and payload != job.payload
    if status == "pending" and due and not stale:
        return False
    if stale:
        session.execute(update(Job).where(Job.dedupe_key == job.key).values(payload=job.payload))
    requeue(session, job.key, available_at=now)
    return True


def retry_action(
    kind: str,
    payload: dict[str, Any],
    *,
    key: str | None,
    retry_payload: dict[str, Any] | None = None,
    held_payload: dict[str, Any] | None = None,
    agent_payload: bool = False,
) -> dict[str, Any]:
    """The action a raiser records with its exception: what failed (`kind` and `payload`,
    as the API shows them) and the job an agent's retry queues: that kind under `key` (None:
    a key of the exception's own) with `retry_payload` (default `payload`). `held_payload`
    replaces it while the exception is held for a person (severity high); `agent_payload`
    says the payload holds what only an agent's retry may do (see `RetryJob`)."""
    retry: dict[str, Any] = {
        "kind": kind,
        "key": key,
        "payload": dict(payload if retry_payload is None else retry_payload),
        "agent_payload": agent_payload,
    }
    if held_payload is not None:
        retry["held_payload"] = dict(held_payload)
    return {"kind": kind, "payload": dict(payload), "retry": retry}


def _retry_job(session: Session, exception: ProcessException) -> RetryJob:
    """The job the raiser recorded for the failing thing (`retry_action`)."""
    action = exception.action or {}
    retry = action.get("retry")
    if not isinstance(retry, dict) or not isinstance(retry.get("payload"), dict):
        raise ProcessExceptionActionUnknown(
            f"process exception {exception.id} has action {action.get('kind')!r}, which "
            "openoms cannot run again; fix the cause, then resolve, ignore or void it",
            action_kind=action.get("kind"),
        )
    held = exception.severity == "high" and isinstance(retry.get("held_payload"), dict)
    payload = retry["held_payload"] if held else retry["payload"]
    return RetryJob(
        str(retry["kind"]),
        str(retry.get("key") or _own_key(exception)),
        dict(payload),
        agent_payload=bool(retry.get("agent_payload")) or held,
    )


def _own_key(exception: ProcessException) -> str:
    """A job key of the exception's own, when the failed job's key cannot be rebuilt."""
    return f"process_exception:{exception.id}"


def _count(session: Session, order_summary_id: str | None, delta: int) -> None:
    if order_summary_id is None:
        return
    # The caller holds the summary (and its lock); the identity map returns that object.
    summary = session.get(OrderSummary, order_summary_id)
    if summary is not None:
        summary.active_process_exception_count = max(
            summary.active_process_exception_count + delta, 0
        )


def _event(name: str, exception: ProcessException, **extra: Any) -> DomainEvent:
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
