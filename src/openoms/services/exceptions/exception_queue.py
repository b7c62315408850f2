"""The process exception queue (DESIGN.md §3, §4): what a person reads, and the moves
`triage`, `pause`, `resolve`, `ignore`, `void` through the one transition table
(domain/fulfillment.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.models import ProcessException, utcnow
from openoms.adapters.db.repositories import exceptions as repo
from openoms.adapters.db.repositories.exceptions import ExceptionFilter as ExceptionFilter
from openoms.adapters.db.repositories.fulfillment import lock_summary
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import IllegalTransition, ProcessExceptionNotFound
from openoms.domain.fulfillment import (
    ACTIVE_EXCEPTION_STATUSES,
    PROCESS_EXCEPTION_TRANSITIONS,
    ProcessExceptionStatus,
    check_process_exception_transition,
)
from openoms.services.exceptions.process_exceptions import count_active, exception_event

# --- the queue: reading -----------------------------------------------------------------


def list_exceptions(
    session: Session, where: ExceptionFilter, *, after_id: str | None = None, limit: int = 50
) -> Sequence[ProcessException]:
    """Exceptions oldest first (ids sort by creation), filtered, `limit` after `after_id`."""
    return repo.list_exceptions(session, where, after_id=after_id, limit=limit)


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
    by: str | None = None,
) -> ProcessException:
    """Triage, pause, resolve, ignore or void the exception (the transition table decides
    what is allowed: an illegal move is `IllegalTransition`, nothing changed). The summary's
    count moves only when the exception leaves the active set. Emits
    `process_exception.<triaged|paused|resolved|ignored|voided>` with the note and who
    moved it (`by`: `api_key:<id>`, `user:<email>`) when given."""
    exception = locked_exception(session, exception_id)
    current, target = _S(exception.status), _TARGET[move]
    _check_move(exception, current, target)
    _set_status(session, exception, current, target)
    name = f"process_exception.{target.value.lower()}"
    event = exception_event(
        name, exception, note=note, previous_status=current.value, **({"by": by} if by else {})
    )
    outbox.record(session, [event])
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
    count_active(session, exception.order_summary_id, int(now) - int(was))


def locked_exception(session: Session, exception_id: str) -> ProcessException:
    """The exception, locked after its summary (the order raisers take the locks in)."""
    summary_id = get_exception(session, exception_id).order_summary_id
    if summary_id is not None:
        lock_summary(session, summary_id)  # its active count moves
    return repo.lock_exception(session, exception_id)
