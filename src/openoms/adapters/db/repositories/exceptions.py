"""Queries of the exceptions area: process exceptions, and the jobs a retry queues again."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openoms.adapters.db.models import Job, ProcessException


@dataclass(frozen=True, slots=True)
class ExceptionFilter:
    """What to list: each given field must match; `statuses` is any of them."""

    category: str | None = None
    severity: str | None = None
    statuses: tuple[str, ...] = ()
    order_summary_id: str | None = None


def latest_with_key(
    session: Session, dedupe_key: str, statuses: Collection[str]
) -> ProcessException | None:
    """The newest exception with `dedupe_key` whose status is one of `statuses`."""
    return session.scalars(
        select(ProcessException)
        .where(ProcessException.dedupe_key == dedupe_key, ProcessException.status.in_(statuses))
        .order_by(ProcessException.created_at.desc())
        .limit(1)
    ).first()


def list_exceptions(
    session: Session, where: ExceptionFilter, *, after_id: str | None, limit: int
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


def lock_exception(session: Session, exception_id: str) -> ProcessException:
    """The exception, locked FOR UPDATE and refreshed in the session; it must exist."""
    return session.scalars(
        select(ProcessException)
        .where(ProcessException.id == exception_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def job_state(session: Session, key: str, now: datetime) -> tuple[str, bool, Any] | None:
    """(status, due by `now`, payload) of the job with dedupe key `key`; None when gone."""
    row = session.execute(
        select(Job.status, Job.available_at <= now, Job.payload).where(Job.dedupe_key == key)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def replace_job_payload(session: Session, key: str, payload: dict[str, Any]) -> None:
    """Set the payload of the job with dedupe key `key`."""
    session.execute(update(Job).where(Job.dedupe_key == key).values(payload=payload))
