"""Deferred work (jobs): enqueue in the business transaction, run later by a worker.

A job is claimed by leasing it (its `available_at` moves a lease ahead, committed at once),
then its handler runs outside the claim: a transactional handler in one transaction that
also settles the job (or, answering `AfterCommit`, in one transaction, then a call with
none open, then one more transaction that settles it), a calling handler (carrier,
gateway) with no transaction held at all. Success marks it done; `Reschedule` or a failure
runs it again after a backoff; a crash lets the lease run out and the job runs again.
Handlers must therefore be idempotent.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from openoms.adapters.db.models import Job, utcnow
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.outbox import Outbox

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
MAX_BACKOFF = timedelta(hours=1)

# Core statements on the table, not ORM-enabled ones: no identity-map synchronisation and
# no per-call statement building on the worker's hot path.
_JOBS = Job.metadata.tables["jobs"]
_MARK = (
    _JOBS.update()
    .where(_JOBS.c.id == bindparam("job_id"))
    .values(status=bindparam("status"), last_error=bindparam("error"))
)


def enqueue(
    session: Session,
    kind: str,
    dedupe_key: str,
    payload: dict[str, Any],
    *,
    available_at: datetime | None = None,
    attempts: int = 0,
    last_error: str | None = None,
) -> bool:
    """Queue a job in the caller's transaction; False if one with this key already exists
    (the same work is never queued twice). `attempts` and `last_error` say the work was
    tried already elsewhere (a job handing it over), so the job's retries count on."""
    now = utcnow()
    row = {
        "kind": kind,
        "dedupe_key": dedupe_key,
        "payload": payload,
        "status": "pending",
        "attempts": attempts,
        "last_error": last_error,
        "available_at": available_at or now,
        "created_at": now,
        "updated_at": now,
    }
    statement = _enqueue_statement(session.get_bind().dialect.name)
    # RETURNING, not rowcount: SQLAlchemy reports -1 for an INSERT's rowcount on psycopg.
    return session.execute(statement, row).scalar() is not None


@cache
def _enqueue_statement(dialect: str) -> Any:
    """Built once per dialect: a Core INSERT costs far less than one built per call."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(_JOBS).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(_JOBS.c.id)


def requeue(
    session: Session,
    dedupe_key: str,
    *,
    available_at: datetime | None = None,
    only: tuple[str, ...] = (),
) -> None:
    """Make a finished or dead job run again (an agent's retry, new stock for a backorder);
    with `only`, just when its status is one of those."""
    where = [_JOBS.c.dedupe_key == dedupe_key]
    if only:
        where.append(_JOBS.c.status.in_(only))
    session.execute(
        _JOBS.update()
        .where(*where)
        .values(status="pending", available_at=available_at or utcnow(), last_error=None)
    )


@dataclass(frozen=True, slots=True)
class Reschedule:
    """A handler's answer: not done yet (no stock, carrier down); run again after `delay`
    (default: backoff by attempt). What the handler wrote so far is kept."""

    reason: str
    delay: timedelta | None = None


@dataclass(frozen=True, slots=True)
class AfterCommit:
    """A transactional handler's answer when it has a call to make once its writes are
    committed (a gateway's: no transaction is held while one thinks). Those writes commit
    without settling the job; `call()` then runs with no transaction open, and
    `settle(session, answer)` in one more transaction that settles the job by what it
    returns (run afresh after a deadlock or serialization failure). A crash in between
    leaves the job to run again after its lease: both halves must be idempotent."""

    call: Callable[[], Any]
    settle: Callable[[Session, Any], Reschedule | None]


@dataclass(frozen=True, slots=True)
class JobContext:
    db: Database
    outbox: Outbox
    job_id: int
    attempt: int  # 1 on the first run
    now: datetime


# A transactional handler runs in one transaction that also marks the job done or
# rescheduled, so its effects and its completion commit together. A calling handler (one
# that calls a carrier or gateway) gets no session and opens its own short transactions.
TransactionalHandler = Callable[
    [JobContext, Session, dict[str, Any]], Reschedule | AfterCommit | None
]
CallingHandler = Callable[[JobContext, dict[str, Any]], Reschedule | None]


@dataclass(frozen=True, slots=True)
class JobKind:
    handler: TransactionalHandler | CallingHandler
    transactional: bool = True
    max_attempts: int = 20
    # When attempts run out: called with a session (its own transaction) to raise an exception
    # for a person.
    on_dead: Callable[[JobContext, Session, dict[str, Any], str], None] | None = None


# Told of every run: (kind, outcome "done" | "rescheduled" | "failed", seconds).
JobObserver = Callable[[str, str, float], None]


@dataclass
class JobRegistry:
    kinds: dict[str, JobKind] = field(default_factory=dict)
    observer: JobObserver | None = None  # metrics: adapters/metrics.py

    def register(self, kind: str, job_kind: JobKind) -> None:
        if kind in self.kinds:
            raise ValueError(f"job kind {kind!r} is already registered")
        self.kinds[kind] = job_kind


def backoff(attempt: int) -> timedelta:
    """2, 4, 8 … seconds with ±20 % jitter, at most an hour."""
    seconds = min(2.0**attempt, MAX_BACKOFF.total_seconds())
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def run_due_jobs(
    db: Database,
    outbox: Outbox,
    registry: JobRegistry,
    *,
    now: datetime | None = None,
    batch: int = 50,
) -> int:
    """Claim up to `batch` due jobs and run each; returns how many ran."""
    now = now or utcnow()
    claimed = _claim(db, now, batch)
    for job_id, kind, payload, attempts in claimed:
        _run_one(db, outbox, registry, job_id, kind, payload, attempts, now)
    return len(claimed)


def _claim(db: Database, now: datetime, batch: int) -> list[tuple[int, str, dict[str, Any], int]]:
    with db.transaction() as session:
        query = (
            select(_JOBS.c.id, _JOBS.c.kind, _JOBS.c.payload, _JOBS.c.attempts)
            .where(_JOBS.c.status == "pending", _JOBS.c.available_at <= now)
            .order_by(_JOBS.c.available_at, _JOBS.c.id)
            .limit(batch)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        jobs = session.execute(query).all()
        if jobs:
            session.execute(
                _JOBS.update()
                .where(_JOBS.c.id.in_([j.id for j in jobs]))
                .values(attempts=_JOBS.c.attempts + 1, available_at=now + LEASE)
            )
        return [(j.id, j.kind, dict(j.payload), j.attempts + 1) for j in jobs]


def _run_one(
    db: Database,
    outbox: Outbox,
    registry: JobRegistry,
    job_id: int,
    kind: str,
    payload: dict[str, Any],
    attempt: int,
    now: datetime,
) -> None:
    started = time.perf_counter()
    outcome = _run_kind(db, outbox, registry.kinds.get(kind), job_id, kind, payload, attempt, now)
    if registry.observer is not None:
        registry.observer(kind, outcome, time.perf_counter() - started)


def _run_kind(
    db: Database,
    outbox: Outbox,
    job_kind: JobKind | None,
    job_id: int,
    kind: str,
    payload: dict[str, Any],
    attempt: int,
    now: datetime,
) -> str:
    context = JobContext(db=db, outbox=outbox, job_id=job_id, attempt=attempt, now=now)
    if job_kind is None:
        with db.transaction() as session:
            _mark(session, job_id, status="dead", error=f"no handler for job kind {kind!r}")
        return "failed"
    try:
        if job_kind.transactional:
            with db.transaction() as session:
                handler = cast(TransactionalHandler, job_kind.handler)
                answer = handler(context, session, payload)
                if not isinstance(answer, AfterCommit):
                    _settle(session, context, job_kind, payload, answer)
            if isinstance(answer, AfterCommit):
                answer = _call_and_settle(db, context, job_kind, payload, answer)
            return "done" if answer is None else "rescheduled"
        outcome = cast(CallingHandler, job_kind.handler)(context, payload)
    except Exception as exc:
        log.warning(
            "job %s (%s) failed on attempt %d: %s", job_id, kind, attempt, type(exc).__name__
        )
        log.debug("job failure", exc_info=exc)
        outcome = Reschedule(f"{type(exc).__name__}: {exc}"[:2000])
        with db.transaction() as session:
            _settle(session, context, job_kind, payload, outcome)
        return "failed"
    with db.transaction() as session:
        _settle(session, context, job_kind, payload, outcome)
    return "done" if outcome is None else "rescheduled"


def _call_and_settle(
    db: Database,
    context: JobContext,
    job_kind: JobKind,
    payload: dict[str, Any],
    then: AfterCommit,
) -> Reschedule | None:
    """The second half of an `AfterCommit` answer: the call, then its settling with the job's."""
    answer = then.call()

    def settle() -> Reschedule | None:
        with db.transaction() as session:
            outcome = then.settle(session, answer)
            _settle(session, context, job_kind, payload, outcome)
        return outcome

    return retry_transient(settle)


def _settle(
    session: Session,
    context: JobContext,
    job_kind: JobKind,
    payload: dict[str, Any],
    outcome: Reschedule | None,
) -> None:
    if outcome is None:
        _mark(session, context.job_id, status="done", error=None)
    elif context.attempt >= job_kind.max_attempts:
        _mark(session, context.job_id, status="dead", error=outcome.reason)
        if job_kind.on_dead is not None:
            job_kind.on_dead(context, session, payload, outcome.reason)
    else:
        delay = outcome.delay or backoff(context.attempt)
        session.execute(
            _JOBS.update()
            .where(_JOBS.c.id == context.job_id)
            .values(available_at=context.now + delay, last_error=outcome.reason)
        )


def _mark(session: Session, job_id: int, *, status: str, error: str | None) -> None:
    session.execute(_MARK, {"job_id": job_id, "status": status, "error": error})
