"""Retrying a process exception's failed action (DESIGN.md §3, §4): `retry_exception` puts
the very job that failed (same kind, same dedupe key) back in the queue. The exception stays
open while the job runs: the job's success resolves it, and another failure refreshes it
(occurrences + 1). Raisers record what to run again with `retry_action`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.models import ProcessException, utcnow
from openoms.adapters.db.repositories import exceptions as repo
from openoms.adapters.jobs import enqueue, requeue
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import ProcessExceptionActionUnknown, ProcessExceptionNotActive
from openoms.domain.fulfillment import ACTIVE_EXCEPTION_STATUSES, ProcessExceptionStatus
from openoms.services.exceptions.exception_queue import locked_exception
from openoms.services.exceptions.process_exceptions import exception_event


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
    by: str | None = None,
) -> RetryOutcome:
    """Run an open exception's failed action again: its job (same kind and key) is revived
    when done or dead, brought forward when backing off, queued anew when gone. The
    exception stays open: the job's success resolves it, another failure refreshes it. A
    label job asks no carrier while its exception is open (labels.py) unless an agent's retry
    queued it: the retry's payload says so. Idempotent: while the job is due to run (with the
    retry's payload), a retry changes nothing. Emits `process_exception.retry_requested`
    (with who asked, `by`, when given)."""
    exception = locked_exception(session, exception_id)
    current = ProcessExceptionStatus(exception.status)
    if current not in ACTIVE_EXCEPTION_STATUSES:
        raise ProcessExceptionNotActive(
            f"process exception {exception.id} is {current.value}: only an open one (NEW, "
            "TRIAGED or PAUSED) can be retried",
            current=current.value,
        )
    job = _retry_job(session, exception)
    if not _rerun(session, job, now or utcnow()):
        return RetryOutcome(exception, job, requeued=False)
    event = exception_event(
        "process_exception.retry_requested",
        exception,
        note=note,
        job_kind=job.kind,
        **({"by": by} if by else {}),
    )
    outbox.record(session, [event])
    session.flush()
    return RetryOutcome(exception, job, requeued=True)


def _rerun(session: Session, job: RetryJob, now: datetime) -> bool:
    """Queue the job again; False when it is pending and due already (nothing to do)."""
    state = repo.job_state(session, job.key, now)
    if state is None:
        return enqueue(session, job.kind, job.key, job.payload)
    status, due, payload = state
    stale = job.agent_payload and payload != job.payload
    if status == "pending" and due and not stale:
        return False
    if stale:
        repo.replace_job_payload(session, job.key, job.payload)
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
